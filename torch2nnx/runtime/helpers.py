"""Helpers copied into translated files where NNX has no counterpart.

Each definition is self-contained apart from jax, jnp, np, nnx and the other
definitions here that it names; the emitter copies the ones a file uses.
All spatial helpers take channels-last arrays (N, *spatial, C).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def ntuple(value, n):
    """torch's int-or-tuple arguments as an n-tuple."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value,) * n


def tensor_sequence(value):
    """torch's ``*tensors`` given as one argument (torch.meshgrid(t)): a list or tuple
    of tensors is the sequence itself, a tensor is a sequence of one."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def typed_tensor(*args, dtype):
    """torch.FloatTensor(...) and the other typed constructors: from data (a list, an
    array), or of the sizes given (uninitialised in torch: zeros, as torch.empty)."""
    if not args:
        return jnp.zeros((0,), dtype)
    if all(isinstance(s, int) and not isinstance(s, bool) for s in args):
        return jnp.zeros(args, dtype)
    return jnp.asarray(args[0], dtype)


def transpose_each(values, axes):
    """Each array of a sequence transposed (a tuple of feature maps brought to torch's
    order as one value); None, a sequence not asked for, stays None."""
    if values is None:
        return None
    return type(values)(jnp.transpose(v, axes) for v in values)


def conv_padding(padding, n):
    """torch Conv padding (int, tuple or 'same'/'valid') as nnx.Conv padding. Pairs
    are already NNX's (a Conv subclass handing its own ``self.padding`` to F.conv2d)."""
    if isinstance(padding, str):
        return padding.upper()
    return tuple(tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in ntuple(padding, n))


def flatten(x, start_dim=1, end_dim=-1):
    """torch.flatten."""
    start = start_dim % x.ndim
    end = end_dim % x.ndim
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1 :])


def unflatten(x, dim, sizes):
    """torch.unflatten."""
    dim = dim % x.ndim
    return x.reshape(x.shape[:dim] + tuple(sizes) + x.shape[dim + 1 :])


def pool_out_padding(size, k, s, p, d, ceil_mode):
    """torch's pooling output length as (low, high) padding for one dim."""
    eff = d * (k - 1) + 1
    if ceil_mode:
        out = -(-(size + 2 * p - eff) // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
    else:
        out = (size + 2 * p - eff) // s + 1
    return p, max((out - 1) * s + eff - size - p, 0)


def max_pool(x, kernel_size, stride, padding=0, dilation=1, ceil_mode=False):
    """torch MaxPoolNd with dilation and ceil_mode, channels-last."""
    n = x.ndim - 2
    k, s = ntuple(kernel_size, n), ntuple(stride, n)
    p, d = ntuple(padding, n), ntuple(dilation, n)
    pads = [pool_out_padding(x.shape[1 + i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(n)]
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, *k, 1), (1, *s, 1), [(0, 0), *pads, (0, 0)],
        window_dilation=(1, *d, 1),
    )


def avg_pool(x, kernel_size, stride, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """torch AvgPoolNd with ceil_mode and divisor_override, channels-last."""
    n = x.ndim - 2
    k, s, p = ntuple(kernel_size, n), ntuple(stride, n), ntuple(padding, n)
    pads = [pool_out_padding(x.shape[1 + i], k[i], s[i], p[i], 1, ceil_mode) for i in range(n)]
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, *k, 1), (1, *s, 1), [(0, 0), *pads, (0, 0)])
    if divisor_override:
        return total / divisor_override
    # torch's divisor per output position: the window clipped to the padded
    # input (count_include_pad) or to the input itself; never the ceil overhang
    count = np.ones((), np.float32)
    for i in range(n):
        size, out = x.shape[1 + i], total.shape[1 + i]
        start = np.arange(out) * s[i] - p[i]
        lo, hi = (-p[i], size + p[i]) if count_include_pad else (0, size)
        c = np.minimum(start + k[i], hi) - np.maximum(start, lo)
        count = np.multiply.outer(count, c.astype(np.float32))
    return total / count[None, ..., None]


def adaptive_bins(size, out):
    """torch's adaptive pooling bins: [floor(i*L/o), ceil((i+1)*L/o))."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def adaptive_avg_pool(x, output_size):
    """torch AdaptiveAvgPoolNd, channels-last."""
    n = x.ndim - 2
    for i, out in enumerate(ntuple(output_size, n)):
        size = x.shape[1 + i]
        if out is None or out == size:
            continue
        weights = np.zeros((out, size), np.float32)
        for j, (a, b) in enumerate(adaptive_bins(size, out)):
            weights[j, a:b] = 1.0 / (b - a)
        x = jnp.moveaxis(jnp.tensordot(x, weights, axes=([1 + i], [1])), -1, 1 + i)
    return x


def adaptive_max_pool(x, output_size):
    """torch AdaptiveMaxPoolNd, channels-last (max is separable per dim)."""
    n = x.ndim - 2
    for i, out in enumerate(ntuple(output_size, n)):
        size = x.shape[1 + i]
        if out is None or out == size:
            continue
        axis = 1 + i
        x = jnp.stack(
            [jax.lax.slice_in_dim(x, a, b, axis=axis).max(axis) for a, b in adaptive_bins(size, out)], axis
        )
    return x


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """F.interpolate / nn.Upsample for nearest, (bi/tri)linear and bicubic, channels-last."""
    n = x.ndim - 2
    in_sizes = x.shape[1:-1]
    if size is not None:
        out_sizes = ntuple(size, n)
        scales = [None] * n
    else:
        scales = ntuple(scale_factor, n)
        out_sizes = tuple(int(math.floor(s * f)) for s, f in zip(in_sizes, scales))
    for i in range(n):
        axis, size_in, size_out = 1 + i, in_sizes[i], out_sizes[i]
        ratio = 1.0 / scales[i] if scales[i] else size_in / size_out
        dst = np.arange(size_out, dtype=np.float64)
        if mode == "nearest":
            idx = np.minimum(np.floor(dst * ratio).astype(np.int32), size_in - 1)
            x = jnp.take(x, idx, axis=axis)
        elif mode == "nearest-exact":
            idx = np.minimum(np.floor((dst + 0.5) * ratio).astype(np.int32), size_in - 1)
            x = jnp.take(x, idx, axis=axis)
        elif mode in ("linear", "bilinear", "trilinear"):
            if align_corners:
                src = dst * ((size_in - 1) / (size_out - 1) if size_out > 1 else 0.0)
            else:
                src = np.maximum((dst + 0.5) * ratio - 0.5, 0.0)
            i0 = np.minimum(np.floor(src).astype(np.int32), size_in - 1)
            i1 = np.minimum(i0 + 1, size_in - 1)
            # the weights in x's float type (float32 for others): a float64 model stays float64
            wtype = x.dtype if x.dtype == jnp.float64 else np.float32
            w = (src - i0).astype(wtype).reshape((-1,) + (1,) * (x.ndim - axis - 1))
            x = jnp.take(x, i0, axis=axis) * (1 - w) + jnp.take(x, i1, axis=axis) * w
        elif mode == "bicubic":
            x = _cubic_resize_axis(x, axis, size_in, size_out, ratio, align_corners)
        else:
            raise NotImplementedError(f"interpolate mode {mode!r}")
    return x


def _cubic_resize_axis(x, axis, size_in, size_out, ratio, align_corners, a=-0.75):
    """torch's bicubic along one axis: cubic convolution with a = -0.75 over the four
    neighbours (indices clamped at the borders, no antialias), as torch's CPU and CUDA
    kernels compute it; jax.image.resize uses a = -0.5 and antialiases downsampling."""
    dst = np.arange(size_out, dtype=np.float64)
    if align_corners:
        src = dst * ((size_in - 1) / (size_out - 1) if size_out > 1 else 0.0)
    else:
        src = (dst + 0.5) * ratio - 0.5  # not clamped at 0 for cubic
    i0 = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    t = np.clip(src - i0, 0.0, 1.0)

    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    weights = (far(t + 1), near(t), near(1 - t), far(2 - t))
    shape = (-1,) + (1,) * (x.ndim - axis - 1)
    out = 0
    for k, w in enumerate(weights):
        idx = np.clip(i0 - 1 + k, 0, size_in - 1).astype(np.int32)
        out = out + jnp.take(x, idx, axis=axis) * w.astype(np.float32).reshape(shape)
    return out.astype(x.dtype)


def softplus(x, beta=1.0, threshold=20.0):
    """torch Softplus: linear above threshold/beta."""
    return jnp.where(x * beta > threshold, x, jax.nn.softplus(x * beta) / beta)


def chunk(x, chunks, axis=0):
    """torch.chunk: pieces of ceil(L / chunks), the last one smaller."""
    size = -(-x.shape[axis] // chunks)
    return jnp.split(x, list(range(size, x.shape[axis], size)), axis=axis)


def unfold_windows(x, dimension, size, step):
    """torch's ``Tensor.unfold(dimension, size, step)``: every ``size``-long window
    starting each ``step`` along ``dimension``; that axis becomes the number of
    windows and the window is a new last axis (strided slices, no gather)."""
    axis = dimension % x.ndim
    n = (x.shape[axis] - size) // step + 1
    if n <= 0:
        raise ValueError(f"unfold: size {size} is larger than dimension {dimension} of size {x.shape[axis]}")
    end = (n - 1) * step + 1
    return jnp.stack([jax.lax.slice_in_dim(x, i, i + end, step, axis=axis) for i in range(size)], axis=-1)


def split(x, split_size_or_sections, axis=0):
    """torch.split: a piece size, or a list of sizes."""
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        return jnp.split(x, list(range(size, x.shape[axis], size)), axis=axis)
    return jnp.split(x, np.cumsum(split_size_or_sections)[:-1].tolist(), axis=axis)


def squeeze(x, axis=None):
    """torch squeeze(dim): a no-op when that dim is not 1 (jnp raises)."""
    if axis is None:
        return jnp.squeeze(x)
    axes = tuple(a for a in ntuple(axis, 1) if x.shape[a] == 1)
    return jnp.squeeze(x, axes) if axes else x


def expand(x, *sizes):
    """torch expand: -1 keeps the size."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return jnp.broadcast_to(x, shape)


def pad(x, pad, mode="constant", value=0.0, perm=None):
    """F.pad: torch lists (low, high) pairs from the last dim backwards. ``perm``:
    ``x`` is held in that physical order (physical axis i is torch's axis
    perm[i]), the pairs known only at run time placed on it."""
    pairs = [(pad[i], pad[i + 1]) for i in range(0, len(pad), 2)]
    widths = [(0, 0)] * (x.ndim - len(pairs)) + pairs[::-1]
    if perm is not None:
        widths = [widths[a] for a in perm]
    return pad_widths(x, widths, mode, value)


def pad_widths(x, widths, mode="constant", value=0.0):
    """(low, high) per axis with torch's padding modes; negative widths crop
    (constant mode only, as in torch)."""
    jmode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    if any(lo < 0 or hi < 0 for lo, hi in widths):
        if jmode != "constant":
            raise NotImplementedError("negative padding with mode " + mode)
        return jax.lax.pad(x, jnp.asarray(value, x.dtype), [(lo, hi, 0) for lo, hi in widths])
    if jmode == "constant":
        return jnp.pad(x, widths, mode="constant", constant_values=value)
    return jnp.pad(x, widths, mode=jmode)


def pad_channels_last(x, padding, nd, mode="constant", value=0.0):
    """torch's padding layers (nn.ZeroPad2d, ConstantPad*, ReflectionPad*,
    ReplicationPad*, CircularPad*) on a channels-last map (N, *spatial, C): an int
    pads every side; torch's (low, high) pairs go from the last spatial dim
    backwards; negative widths crop, as torch's constant padding does."""
    pads = (padding,) * (2 * nd) if isinstance(padding, int) else tuple(padding)
    widths = [(0, 0)] * x.ndim
    for i in range(0, len(pads), 2):
        widths[x.ndim - 2 - i // 2] = (int(pads[i]), int(pads[i + 1]))
    return pad_widths(x, widths, mode, value)


def max_with_indices(x, axis, keepdims=False):
    """torch.max(x, dim): (values, indices)."""
    return jnp.max(x, axis=axis, keepdims=keepdims), jnp.argmax(x, axis=axis, keepdims=keepdims)


def min_with_indices(x, axis, keepdims=False):
    """torch.min(x, dim): (values, indices)."""
    return jnp.min(x, axis=axis, keepdims=keepdims), jnp.argmin(x, axis=axis, keepdims=keepdims)


def topk(x, k, axis=-1, largest=True, sorted=True):
    """torch.topk: (values, indices) along any axis."""
    x = jnp.moveaxis(x, axis, -1)
    values, indices = jax.lax.top_k(x if largest else -x, k)
    values = values if largest else -values
    return jnp.moveaxis(values, -1, axis), jnp.moveaxis(indices, -1, axis)


class TorchBatchNorm(nnx.BatchNorm):
    """torch's BatchNorm: in training, the running variance moves toward the
    unbiased batch variance (n / (n - 1)), as torch's does; nnx.BatchNorm's
    toward the biased one. Everything else is nnx.BatchNorm's."""

    def __call__(self, x, use_running_average=None, *, mask=None):
        frozen = self.use_running_average if use_running_average is None else use_running_average
        if frozen or mask is not None:
            return super().__call__(x, use_running_average=use_running_average, mask=mask)
        y = super().__call__(x, use_running_average=False)
        axis = self.axis if isinstance(self.axis, int) else self.axis[0]
        axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
        n = math.prod(x.shape[i] for i in axes)
        # nnx stored momentum * old + (1 - momentum) * var; torch weighs var by n / (n - 1)
        var = jnp.var(x.astype(jnp.float32), axis=axes)
        self.var[...] = self.var[...] + (1 - self.momentum) * var / max(n - 1, 1)
        return y


class BatchStatsNorm(nnx.BatchNorm):
    """BatchNorm with track_running_stats=False: batch statistics in eval too."""

    def __call__(self, x, use_running_average=None, *, mask=None):
        return super().__call__(x, use_running_average=False, mask=mask)


class ChannelPReLU(nnx.Module):
    """torch PReLU(num_parameters=C): one slope per channel (the last axis)."""

    def __init__(self, num_parameters, init=0.25):
        self.weight = nnx.Param(jnp.full((num_parameters,), init, jnp.float32))

    def __call__(self, x):
        return jnp.where(x >= 0, x, self.weight[...] * x)


class NamedSequential(nnx.Module):
    """nn.Sequential(OrderedDict(...)): layers keep their names and order.

    The order is kept apart: an nnx.Dict iterates in sorted key order under jit.
    """

    _torch_container = "dict"

    def __init__(self, layers=None):
        layers = dict(layers or {})
        self.layers = nnx.Dict(layers)
        self.order = tuple(layers)

    def add_module(self, name, module):
        if name not in self.order:
            self.order = self.order + (name,)
        self.layers[name] = module

    def append(self, module):
        self.add_module(str(len(self.order)), module)
        return self

    def items(self):
        return [(name, self.layers[name]) for name in self.order]

    def __len__(self):
        return len(self.order)

    def __iter__(self):
        return iter([self.layers[name] for name in self.order])

    def __getitem__(self, idx):
        if isinstance(idx, slice):  # torch keeps the names of a slice
            return NamedSequential({name: self.layers[name] for name in self.order[idx]})
        return self.layers[self.order[idx]]

    def __call__(self, x):
        for name in self.order:
            x = self.layers[name](x)
        return x

    def __getattr__(self, name):
        # torch reads a named layer as an attribute (self.add_module("bn", ...); self.bn)
        layers = vars(self).get("layers")
        if layers is not None and not name.startswith("_") and name in vars(self).get("order", ()):
            return layers[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        # torch replaces the named layer (self.head.norm = nn.Identity()): so does the
        # call, and the weights follow the new layer
        if name in vars(self).get("order", ()) and not name.startswith("_"):
            del self.layers[name]  # a layer replaced by a function: static, not data
            self.layers[name] = value
            return
        super().__setattr__(name, value)


def sequential(*layers, moves=None):
    """nn.Sequential(x) where x is only known at run time: an OrderedDict keeps its names.
    ``moves``: {index: axes}, the transpose a layer's input needs first (its layout
    differs from what the layer before returns; decided by the translation)."""
    if len(layers) == 1 and isinstance(layers[0], dict):
        return MovingNamedSequential(layers[0], moves=moves) if moves else NamedSequential(layers[0])
    if moves:
        return MovingSequential(*layers, moves=moves)
    return nnx.Sequential(*layers)


class MovingSequential(nnx.Sequential):
    """nn.Sequential whose layers take different layouts (a block returning torch
    order before one taking channels-last): each move transposes the input of
    the layer at its index. The layers and their state are nnx.Sequential's."""

    def __init__(self, *layers, moves):
        super().__init__(*layers)
        self.moves = tuple(sorted(dict(moves).items()))

    def __call__(self, x):
        return run_moving(self.layers, self.moves, x)


def run_moving(layers, moves, x):
    """Call ``layers`` in order, transposing the input of the layer at each index
    ``moves`` names (index -> axes): the one loop of the Moving* Sequentials."""
    moves = dict(moves)
    for i, layer in enumerate(layers):
        if i in moves:
            x = jnp.transpose(x, moves[i])
        x = layer(x)
    return x


class MovingNamedSequential(NamedSequential):
    """nn.Sequential(OrderedDict(...)) whose layers take different layouts: each
    move transposes the input of the layer at its index (see sequential)."""

    def __init__(self, layers=None, moves=None):
        super().__init__(layers)
        self.moves = tuple(sorted(dict(moves or {}).items()))

    def __getitem__(self, idx):
        if isinstance(idx, slice):  # torch keeps the names of a slice; the moves between them stay
            kept, moves = range(len(self.order))[idx], dict(self.moves)
            return MovingNamedSequential({name: self.layers[name] for name in self.order[idx]},
                                         moves={j: moves[i] for j, i in enumerate(kept) if j and i in moves})
        return super().__getitem__(idx)

    def __call__(self, x):
        return run_moving([self.layers[name] for name in self.order], self.moves, x)


class OrderedModuleDict(nnx.Module):
    """A subclass of nn.ModuleDict: entries in insertion order, also under jit
    (an nnx.Dict iterates in sorted key order there)."""

    _torch_container = "dict"

    def __init__(self, modules=None):
        self.layers = nnx.Dict()
        self.order = ()
        for name, module in dict(modules or {}).items():
            self[name] = module

    def __setitem__(self, name, module):
        self.layers[name] = module
        if name not in self.order:
            self.order = self.order + (name,)

    def __getitem__(self, name):
        return self.layers[name]

    def __len__(self):
        return len(self.order)

    def __iter__(self):
        return iter(self.order)

    def __contains__(self, name):
        return name in self.order

    def keys(self):
        return list(self.order)

    def values(self):
        return [self.layers[name] for name in self.order]

    def items(self):
        return [(name, self.layers[name]) for name in self.order]

    def __getattr__(self, name):
        # torch reads an entry as an attribute (self.add_module("proj", ...); self.proj)
        layers = vars(self).get("layers")
        if layers is not None and not name.startswith("_") and name in vars(self).get("order", ()):
            return layers[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def conv_transpose_padding(kernel_size, padding, output_padding, dilation, n):
    """torch ConvTranspose geometry as explicit nnx.ConvTranspose padding."""
    k, p = ntuple(kernel_size, n), ntuple(padding, n)
    op, d = ntuple(output_padding, n), ntuple(dilation, n)
    return tuple((d[i] * (k[i] - 1) - p[i], d[i] * (k[i] - 1) - p[i] + op[i]) for i in range(n))


def pixel_shuffle(x, upscale_factor):
    """torch PixelShuffle on channels-last: (N, H, W, C*r*r) -> (N, H*r, W*r, C)."""
    n, h, w, c = x.shape
    r = upscale_factor
    x = x.reshape(n, h, w, c // (r * r), r, r)
    return x.transpose(0, 1, 4, 2, 5, 3).reshape(n, h * r, w * r, c // (r * r))


def pixel_unshuffle(x, downscale_factor):
    """torch PixelUnshuffle on channels-last: (N, H*r, W*r, C) -> (N, H, W, C*r*r)."""
    n, h, w, c = x.shape
    r = downscale_factor
    x = x.reshape(n, h // r, r, w // r, r, c)
    return x.transpose(0, 1, 3, 5, 2, 4).reshape(n, h // r, w // r, c * r * r)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1, channels_last=False):
    """F.unfold / nn.Unfold on torch's (N, C, H, W) (or (C, H, W)), or on (N, H, W, C)
    when ``channels_last``: sliding blocks as (N, C * kh * kw, L), channel-major then
    kernel row then column, as torch."""
    batched = x.ndim == 4
    x = x if batched else x[None]
    k, d, p, s = (ntuple(v, 2) for v in (kernel_size, dilation, padding, stride))
    patches = jax.lax.conv_general_dilated_patches(
        x, k, s, [(p[0], p[0]), (p[1], p[1])], rhs_dilation=d,
        dimension_numbers=("NHWC" if channels_last else "NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST)
    out = patches.reshape(patches.shape[0], patches.shape[1], -1)
    return out if batched else out[0]


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """F.fold / nn.Fold: (N, C * kh * kw, L) (or unbatched) back to torch's (N, C, H, W),
    overlapping values summed -- the transpose of unfold, as in torch."""
    batched = x.ndim == 3
    x = x if batched else x[None]
    kh, kw = ntuple(kernel_size, 2)
    oh, ow = ntuple(output_size, 2)
    image = jax.ShapeDtypeStruct((x.shape[0], x.shape[1] // (kh * kw), oh, ow), x.dtype)
    (out,) = jax.linear_transpose(lambda t: unfold(t, kernel_size, dilation, padding, stride), image)(x)
    return out if batched else out[0]


def dropout(x, rate, deterministic, rngs):
    """F.dropout: zero with probability ``rate``, scale the rest by 1/(1-rate)."""
    if deterministic or rate == 0:
        return x
    keep = jax.random.bernoulli(rngs.dropout(), 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def torch_weight(v, perm):
    """A torch layer's weight handed on as the NNX Variable holding it (NNX's kernel,
    in another order): the Variable itself, so what the callee writes lands in the
    layer, marked with ``perm`` (physical axis -> torch axis) so torch's fan-in and
    fan-out (torch_fan_in_and_fan_out) read torch's axes."""
    if isinstance(v, nnx.Variable):
        v.set_metadata(torch_perm=tuple(perm))
    return v


def torch_array(v, perm):
    """A torch layer's weight handed to a function for its value (``conv2d_same(x,
    self.weight, ...)``): the NNX kernel as an array in torch's axis order, so the
    callee's shape reads, slices and F.conv2d/F.linear see what torch's do.
    ``perm`` is physical axis -> torch axis."""
    value = v[...] if isinstance(v, nnx.Variable) else jnp.asarray(v)
    order = [0] * len(perm)
    for physical, logical in enumerate(perm):
        order[logical] = physical
    return jnp.transpose(value, order)


def torch_weight_value(v):
    """A torch layer's parameter read off an NNX layer the translator could not tell
    (torch_layer_attr), wanted for its value (``w.T``, ``w.shape[0]``, ``F.linear(x,
    w)``): an array in torch's axis order (a kernel marked with its order is
    transposed back), anything else as it is."""
    if isinstance(v, nnx.Variable):
        perm = v.get_metadata().get("torch_perm")
        return torch_array(v, perm) if perm is not None else v[...]
    return v


def factory_kwargs(kwargs, layer):
    """torch's factory keywords (``**dd``) handed to a layer NNX builds
    (``nn.Linear(i, o, **dd)``): nothing to hand on, ``device`` and ``dtype`` are
    dropped as written out they are (factory_kwargs_only); any other key would be
    one of the layer's own parameters, which the translation bound without it."""
    factory_kwargs_only(kwargs or {}, layer)
    return {}


def torch_fan_in_and_fan_out(tensor):
    """torch.nn.init._calculate_fan_in_and_fan_out on torch's axes: an NNX kernel
    handed on as a torch weight (torch_weight) is read in torch's order."""
    shape = tuple(tensor.shape)
    if isinstance(tensor, nnx.Variable):
        perm = tensor.get_metadata().get("torch_perm")
        if perm is not None and len(perm) == len(shape):
            torch_shape = [0] * len(shape)
            for physical, logical in enumerate(perm):
                torch_shape[logical] = shape[physical]
            shape = tuple(torch_shape)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def torch_variance_scaling(key, shape, mode="fan_in", distribution="normal", in_axis=-2, out_axis=-1):
    """transformers.initialization's _variance_scaling (lecun_normal_,
    default_flax_embed_init_): variance 1/fan with torch's fans, read on NNX's axes
    (``in_axis``/``out_axis``: a kernel's ``(*kernel, in, out)``; an Embed's table
    holds torch's ``(num, features)``, so ``-1, -2``), drawn as torch draws it:
    trunc_normal_ cut at +-2 absolute (not at 2 standard deviations), normal_, uniform_."""
    n = len(shape)
    receptive = math.prod(d for i, d in enumerate(shape) if i not in (in_axis % n, out_axis % n))
    fan_in, fan_out = shape[in_axis] * receptive, shape[out_axis] * receptive
    variance = 1.0 / {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    if distribution == "truncated_normal":
        std = math.sqrt(variance) / 0.87962566103423978
        return std * jax.random.truncated_normal(key, -2.0 / std, 2.0 / std, shape)
    if distribution == "normal":
        return math.sqrt(variance) * jax.random.normal(key, shape)
    if distribution != "uniform":
        raise ValueError(f"invalid distribution {distribution}")
    bound = math.sqrt(3 * variance)
    return jax.random.uniform(key, shape, minval=-bound, maxval=bound)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-05, axis=1):
    """torch's F.group_norm, the channels on ``axis`` (torch's 1, or -1 for a
    channels-last x): the channels split into groups, each normalised over its
    channels and the spatial dims with the biased variance, then the per-channel affine."""
    if axis % x.ndim != x.ndim - 1:
        return jnp.moveaxis(group_norm(jnp.moveaxis(x, axis, -1), num_groups, weight, bias, eps, -1), -1, axis)
    c = x.shape[-1]
    g = x.reshape(x.shape[:-1] + (num_groups, c // num_groups))
    axes = tuple(range(1, g.ndim - 2)) + (g.ndim - 1,)
    mean = g.mean(axes, keepdims=True)
    var = jnp.mean(jnp.square(g - mean), axes, keepdims=True)
    y = ((g - mean) * jax.lax.rsqrt(var + eps)).reshape(x.shape)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def data_slot(value):
    """A value for a module slot that also holds plain values (a flag, a function):
    ``nnx.data`` when it holds data (a layer, a Variable, an array), so Flax accepts it
    after a static value; as it is otherwise (a stateless layer, a function), so it
    stays static and ``nnx.jit`` never takes it for an array."""
    return nnx.data(value) if nnx.is_data(value) else value


def inplace_set(t, value):
    """torch's in-place tensor methods (x.uniform_(), x.mul_(2)) write into the tensor:
    a Variable (a parameter handed to an init function) takes the new value and stays
    the same object, so every holder sees it; an array is immutable, the caller rebinds
    its name to the result. The receiver keeps its shape and dtype, as in torch."""
    old = t.get_value() if isinstance(t, nnx.Variable) else t
    value = jnp.asarray(value)
    if hasattr(old, "shape") and hasattr(old, "dtype"):
        value = jnp.broadcast_to(value.astype(old.dtype), old.shape)
    if isinstance(t, nnx.Variable):
        t.set_value(value)
        return t
    return value


def inplace_set_view(t, value, axes):
    """An in-place write through ``jnp.transpose(t, axes)`` (a layer's kernel read in
    torch's order, ``fc.weight.copy_(w)``): ``value``, in the view's order and
    broadcast to its shape, written back into ``t`` in ``t``'s own order."""
    old = t.get_value() if isinstance(t, nnx.Variable) else t
    view_shape = tuple(old.shape[a] for a in axes)
    value = jnp.broadcast_to(jnp.asarray(value).astype(old.dtype), view_shape)
    return inplace_set(t, jnp.transpose(value, tuple(int(i) for i in np.argsort(axes))))


class TorchName:
    """torch's name for what a translated subclass of an NNX layer holds under
    NNX's (``weight = TorchName("scale")``), for code that reads it off an
    instance whose class it cannot see (timm's ``self.conv3.bn.weight``)."""

    def __init__(self, name):
        self.name = name

    def __get__(self, obj, owner=None):
        return self if obj is None else getattr(obj, self.name)


class TorchLayerType(type):
    """The type of torch layer classes handed around as values (``norm_layer=nn.BatchNorm2d``).

    Such a value is a class named like torch's, so code that inspects it (its
    ``__name__``, ``isinstance(x, type)``, a dict key, ``in`` a set of types) sees
    a class, as in torch; calling it builds the NNX layer, and ``isinstance``
    checks the NNX class (``nnx_class`` None: a layer NNX holds as a function).
    Translated subclasses of the torch layer are its subclasses."""

    # one class per torch name (torch_class), shared by every translated file of the process
    # (each may carry its own copy of these helpers): identity checks agree across uses and
    # files (a model file's issubclass(aa_layer, nn.AvgPool2d) on its caller's nn.AvgPool2d)
    made = __import__("sys").modules.setdefault(
        "_torch2nnx_torch_classes", __import__("types").ModuleType("_torch2nnx_torch_classes")
    ).__dict__.setdefault("made", {})

    def __call__(cls, *args, **kwargs):
        return cls.build(*args, **kwargs)

    def __instancecheck__(cls, obj):
        if cls.nnx_class is not None and isinstance(obj, cls.nnx_class):
            return True
        return cls.__subclasscheck__(type(obj))

    def __subclasscheck__(cls, sub):
        # a translated subclass of the torch layer subclasses a class generated from its row
        if type.__subclasscheck__(cls, sub) or any(
                getattr(b, "_torch_layer", None) == cls.__name__ for b in getattr(sub, "__mro__", ())):
            return True
        return cls.nnx_class is not None and isinstance(sub, type) and issubclass(sub, cls.nnx_class)


class RankedLayerType(type):
    """``isinstance(m, nn.Conv2d)``: NNX has one Conv class for every rank, so the
    kernel's rank tells a Conv2d from a Conv1d, as torch's classes do (an init
    function reading ``m.kernel_size[1]`` of each Conv2d never meets a Conv1d)."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls.nnx_class) and len(obj.kernel_size) == cls.rank

    def __subclasscheck__(cls, sub):
        return isinstance(sub, type) and issubclass(sub, cls.nnx_class)


def ranked_layer(nnx_class, rank):
    """The type ``isinstance`` checks for torch's rank-specific layer class."""
    return RankedLayerType(f"{nnx_class.__name__}{rank}d", (), {"nnx_class": nnx_class, "rank": rank})


def torch_class(name, nnx_class, build):
    """torch's ``nn.<name>`` as a value: a class whose construction is ``build``."""
    cls = TorchLayerType.made.get(name)
    if cls is None:
        cls = TorchLayerType.made[name] = TorchLayerType(
            name, (), {"build": staticmethod(build), "nnx_class": nnx_class, "__module__": "torch.nn"})
    return cls


def torch_layer_function(fn):
    """A torch layer NNX keeps as a function of its own (``nn.Identity()`` ->
    ``lambda x: x``), marked where code may inspect it: a module for
    ``isinstance(v, nn.Module)`` (TorchModule), no factory for ``isfunction``."""
    fn._torch_layer_function = True
    return fn


def is_torch_layer(value):
    """torch's ``isinstance(value, nn.Module)`` on a translated value: an NNX
    module, or a stateless torch layer NNX holds as a function (``nn.ReLU()`` ->
    ``jax.nn.relu``; a partial of one; one marked by torch_layer_function). A
    function of the model's own source (a layer factory such as
    ``lambda: nn.ReLU()``) is none, as in torch."""
    if isinstance(value, nnx.Module):
        return True
    if value is None or isinstance(value, type) or not callable(value):
        return False
    if getattr(value, "_torch_layer_function", False):
        return True
    if isinstance(value, functools.partial):
        return not isinstance(value.func, nnx.Module) and is_torch_layer(value.func)
    # jax's and flax's functions (jax.nn.relu, jnp.tanh, nnx.max_pool) are never the model's factories
    module = getattr(value, "__module__", None) or type(value).__module__
    return isinstance(module, str) and module.split(".")[0] in ("jax", "jaxlib", "flax")


class TorchModuleType(type):
    """The type of TorchModule: torch's ``isinstance`` / ``issubclass`` against ``nn.Module``."""

    def __instancecheck__(cls, obj):
        return is_torch_layer(obj)

    def __subclasscheck__(cls, sub):
        # a torch layer class handed around as a value (torch_class) is one, stateless or not
        # (by the metaclass's name: torch_class's classes are shared by every translated
        # file of a process, each of which may carry its own copy of these helpers)
        return type(sub).__name__ in ("TorchLayerType", "RankedLayerType") or (
            isinstance(sub, type) and issubclass(sub, nnx.Module))


class TorchModule(metaclass=TorchModuleType):
    """torch's ``nn.Module`` where code checks a value against it
    (``assert isinstance(self.activ, nn.Module)``): true for NNX modules and for
    the stateless torch layers NNX keeps as functions (``jax.nn.relu``), as torch
    is for ``nn.ReLU()``; false for plain functions such as layer factories."""


def torch_isfunction(obj):
    """``inspect.isfunction`` as torch code means it: a stateless layer NNX keeps
    as a function (``nn.Identity()`` -> ``lambda x: x``) is a module in torch, no
    function (pytorchcv's ``create_activation_layer`` calls functions as factories)."""
    return __import__("inspect").isfunction(obj) and not is_torch_layer(obj)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5,
               axis=1):
    """F.batch_norm over the channel ``axis`` (1 in torch's order, -1 channels-last).

    Training: batch statistics (biased variance), and running statistics held in
    Variables (a translated BatchNorm's mean and var) updated in place as torch
    does (``momentum`` is torch's; the variance is unbiased). Otherwise the
    running statistics."""
    axis = axis % x.ndim
    reduce = tuple(i for i in range(x.ndim) if i != axis)
    shape = tuple(x.shape[axis] if i == axis else 1 for i in range(x.ndim))
    if training:
        mean = jnp.mean(x, axis=reduce)
        var = jnp.mean(jnp.square(x - mean.reshape(shape)), axis=reduce)
        for stat, new in ((running_mean, mean), (running_var, var)):
            if stat is None:
                continue
            if not isinstance(stat, nnx.Variable) or momentum is None:
                # an array cannot be written in place (torch's cumulative average: momentum None)
                raise NotImplementedError("torch2nnx: F.batch_norm updates running statistics in place only "
                                          "in an nnx.Variable, with a momentum")
            if new is var:
                n = x.size // x.shape[axis]
                new = new * (n / max(n - 1, 1))
            stat.set_value((1 - momentum) * stat.get_value() + momentum * jax.lax.stop_gradient(new))
    else:
        mean = running_mean.get_value() if isinstance(running_mean, nnx.Variable) else running_mean
        var = running_var.get_value() if isinstance(running_var, nnx.Variable) else running_var
    y = (x - jnp.reshape(mean, shape)) * jax.lax.rsqrt(jnp.reshape(var, shape) + eps)
    if weight is not None:
        y = y * jnp.reshape(jnp.asarray(weight), shape)
    if bias is not None:
        y = y + jnp.reshape(jnp.asarray(bias), shape)
    return y


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """F.layer_norm: over the trailing len(normalized_shape) dims, biased variance."""
    n = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    axes = tuple(range(-n, 0))
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    y = (x - mean) * jax.lax.rsqrt(var + eps)
    if weight is not None:  # a flat NNX scale for several dims: torch's shape again
        y = y * jnp.reshape(jnp.asarray(weight), x.shape[-n:])
    if bias is not None:
        y = y + jnp.reshape(jnp.asarray(bias), x.shape[-n:])
    return y


def conv_kwargs(kwargs, n):
    """torch Conv keyword arguments (passed on as **kwargs) as nnx.Conv ones."""
    names = {"stride": "strides", "dilation": "kernel_dilation", "groups": "feature_group_count", "bias": "use_bias"}
    out = {"padding": "VALID"}
    for key, value in kwargs.items():
        if key == "kernel_size":
            out["kernel_size"] = ntuple(value, n)
        elif key == "padding":
            out["padding"] = conv_padding(value, n) if value != 0 else "VALID"
        elif key == "padding_mode":
            if value != "zeros":
                raise NotImplementedError(f"padding_mode={value!r} passed in **kwargs")
        elif key in names:
            out[names[key]] = value
        elif key == "device":
            continue  # placement is JAX's
        elif key == "dtype":
            if value is not None:
                out["param_dtype"] = out["dtype"] = value
        else:
            raise TypeError(f"unexpected Conv argument {key!r}")
    return out


def weights_module():
    """The weights module written next to this file (<module>_weights.py)."""
    import importlib

    return importlib.import_module(__name__ + "_weights")


# ---------------------------------------------------------------------------
# Recurrent layers (torch.nn.LSTM / GRU / RNN and their cells), begin.
# torch's formulas, gate order (LSTM i,f,g,o; GRU r,z,n with b_hn inside
# r * (W_hn h + b_hn)) and parameter names and shapes, so a state_dict ports
# one to one (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, *_reverse,
# weight_hr_l0). Time runs in jax.lax.scan, so they work under nnx.jit.


def rnn_param(rngs, shape, hidden_size):
    """torch's RNN init: every weight and bias U(-1/sqrt(hidden), 1/sqrt(hidden))."""
    k = 1.0 / math.sqrt(hidden_size)
    return nnx.Param(jax.random.uniform(rngs.params(), shape, jnp.float32, -k, k))


def rnn_step(mode, gi, h, c, w_hh, b_hh, w_hr=None):
    """One torch RNN step from the input projection ``gi`` (x @ W_ih.T + b_ih).

    Returns the new (h, c); c is only used (and returned changed) by LSTM."""
    gh = h @ w_hh.T
    if b_hh is not None:
        gh = gh + b_hh
    if mode == "LSTM":
        i, f, g, o = jnp.split(gi + gh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        if w_hr is not None:
            h = h @ w_hr.T
        return h, c
    if mode == "GRU":
        i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
        h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
        r = jax.nn.sigmoid(i_r + h_r)
        z = jax.nn.sigmoid(i_z + h_z)
        n = jnp.tanh(i_n + r * h_n)  # b_hn stays inside r * (...), as in torch
        return (1.0 - z) * n + z * h, c
    pre = gi + gh
    return (jax.nn.relu(pre) if mode == "RNN_RELU" else jnp.tanh(pre)), c


def rnn_gates(mode):
    """Gate blocks stacked in torch's weights: LSTM i,f,g,o; GRU r,z,n; RNN one."""
    return {"LSTM": 4, "GRU": 3}.get(mode, 1)


@jax.tree_util.register_pytree_node_class
class PackedSequence:
    """torch's PackedSequence, kept padded: ``data`` is time-major (T, N, *),
    ``lengths`` (N,) the valid steps of each sequence (any order). A pytree,
    so it can be handed to and returned from jit-compiled functions."""

    def __init__(self, data, lengths):
        self.data, self.lengths = data, lengths

    def tree_flatten(self):
        return (self.data, self.lengths), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """torch.nn.utils.rnn.pack_padded_sequence (the recurrent layers mask the padding)."""
    data = jnp.swapaxes(input, 0, 1) if batch_first else input
    return PackedSequence(data, jnp.asarray(lengths, jnp.int32))


def pack_sequence(sequences, enforce_sorted=True):
    """torch.nn.utils.rnn.pack_sequence: a list of (L_i, *) arrays."""
    return pack_padded_sequence(pad_sequence(sequences), [s.shape[0] for s in sequences])


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """torch.nn.utils.rnn.pad_packed_sequence: (padded, lengths). Without
    total_length the padded length is max(lengths), so the lengths must be
    concrete (not traced under jit): pass total_length there."""
    x, lengths = sequence.data, sequence.lengths
    steps = total_length if total_length is not None else int(np.max(np.asarray(lengths)))
    mask = jnp.arange(x.shape[0])[:, None] < lengths[None, :]
    x = jnp.where(mask.reshape(mask.shape + (1,) * (x.ndim - 2)), x, padding_value)
    if steps <= x.shape[0]:
        x = x[:steps]
    else:
        x = jnp.pad(x, [(0, steps - x.shape[0])] + [(0, 0)] * (x.ndim - 1), constant_values=padding_value)
    return (jnp.swapaxes(x, 0, 1) if batch_first else x), lengths


def reverse_padded(x, lengths):
    """Reverse each sequence of a time-major (T, N, *) array within its own length."""
    t = jnp.arange(x.shape[0])[:, None]
    idx = jnp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return jnp.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), axis=0)


class TorchRNNModule(nnx.Module):
    """What torch code calls on its recurrent layers besides forward."""

    _torch_leaf = True  # no submodules in torch (its dropout is not one)

    def named_parameters(self):
        """torch's (name, parameter) pairs in torch's order, for init loops."""
        return [(k, v) for k, v in vars(self).items() if isinstance(v, nnx.Param)]

    def parameters(self):
        return [v for _, v in self.named_parameters()]

    def flatten_parameters(self):
        """torch compacts the weights for cuDNN; nothing to do in JAX."""


class TorchRNNBase(TorchRNNModule):
    """torch.nn.RNNBase: a stack of (bidirectional) recurrent layers.

    Takes (T, N, F), (N, T, F) with batch_first, or unbatched (T, F); returns
    (output, h_n) and for LSTM (output, (h_n, c_n)), shaped as in torch.
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, *, rngs):
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gates = rnn_gates(mode) * hidden_size
        out_size = proj_size if proj_size > 0 else hidden_size
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            for suffix in ("", "_reverse")[:directions]:
                s = f"_l{layer}{suffix}"
                layer_in = input_size if layer == 0 else out_size * directions
                setattr(self, "weight_ih" + s, rnn_param(rngs, (gates, layer_in), hidden_size))
                setattr(self, "weight_hh" + s, rnn_param(rngs, (gates, out_size), hidden_size))
                if bias:
                    setattr(self, "bias_ih" + s, rnn_param(rngs, (gates,), hidden_size))
                    setattr(self, "bias_hh" + s, rnn_param(rngs, (gates,), hidden_size))
                if proj_size > 0:
                    setattr(self, "weight_hr" + s, rnn_param(rngs, (proj_size, hidden_size), hidden_size))
        # dropout on the outputs of every layer but the last, in training mode
        self.drop = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 and num_layers > 1 else None

    def _get(self, name):
        v = getattr(self, name, None)
        return None if v is None else v[...]

    def __call__(self, input, hx=None):
        lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        batched = packed or input.ndim == 3
        if packed:
            x, lengths = input.data, input.lengths  # time-major, whatever batch_first says
        elif not batched:
            x = input[:, None]
        elif self.batch_first:
            x = jnp.swapaxes(input, 0, 1)
        else:
            x = input
        # packed: steps past a sequence's length leave its state alone and output 0
        mask = (jnp.arange(x.shape[0])[:, None] < lengths[None, :])[..., None] if packed else None
        directions = 2 if self.bidirectional else 1
        out_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        n = x.shape[1]
        if hx is None:
            h0 = jnp.zeros((self.num_layers * directions, n, out_size), x.dtype)
            c0 = jnp.zeros((self.num_layers * directions, n, self.hidden_size), x.dtype) if lstm else None
        else:
            h0, c0 = hx if lstm else (hx, None)
            if not batched:
                h0 = h0[:, None]
                c0 = c0[:, None] if lstm else None
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                s = f"_l{layer}" + ("_reverse" if d else "")
                k = layer * directions + d
                w_hh, b_hh, w_hr = self._get("weight_hh" + s), self._get("bias_hh" + s), self._get("weight_hr" + s)
                seq = (reverse_padded(x, lengths) if packed else x[::-1]) if d else x
                gi = seq @ self._get("weight_ih" + s).T
                b_ih = self._get("bias_ih" + s)
                if b_ih is not None:
                    gi = gi + b_ih

                def step(carry, inputs, w_hh=w_hh, b_hh=b_hh, w_hr=w_hr):
                    g, m = inputs
                    h, c = rnn_step(self.mode, g, carry[0], carry[1], w_hh, b_hh, w_hr)
                    if m is None:
                        return (h, c), h
                    h = jnp.where(m, h, carry[0])
                    c = jnp.where(m, c, carry[1]) if lstm else None
                    return (h, c), jnp.where(m, h, 0.0)

                (h, c), ys = jax.lax.scan(step, (h0[k], c0[k] if lstm else None), (gi, mask))
                outs.append((reverse_padded(ys, lengths) if packed else ys[::-1]) if d else ys)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if directions == 1 else jnp.concatenate(outs, axis=-1)
            if self.drop is not None and layer < self.num_layers - 1:
                x = self.drop(x)
        h_n = jnp.stack(h_n)
        c_n = jnp.stack(c_n) if lstm else None
        if packed:
            x = PackedSequence(x, lengths)
        elif not batched:
            x, h_n = x[:, 0], h_n[:, 0]
            c_n = c_n[:, 0] if lstm else None
        elif self.batch_first:
            x = jnp.swapaxes(x, 0, 1)
        return (x, (h_n, c_n)) if lstm else (x, h_n)


class TorchLSTM(TorchRNNBase):
    """torch.nn.LSTM (proj_size included): returns (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, *, rngs):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, rngs=rngs)


class TorchGRU(TorchRNNBase):
    """torch.nn.GRU, exact for b_hn (nnx.GRUCell is not): returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, rngs):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rngs=rngs)


class TorchRNN(TorchRNNBase):
    """torch.nn.RNN (tanh or relu): returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, rngs):
        self.nonlinearity = nonlinearity
        mode = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}[nonlinearity]
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rngs=rngs)


class TorchRNNCellBase(TorchRNNModule):
    """torch.nn.LSTMCell / GRUCell / RNNCell: one step, for hand-written time loops.

    Takes (N, F) or unbatched (F,); LSTMCell returns (h, c), the others h."""

    def __init__(self, mode, input_size, hidden_size, bias=True, *, rngs):
        self.mode = mode
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = rnn_gates(mode) * hidden_size
        self.weight_ih = rnn_param(rngs, (gates, input_size), hidden_size)
        self.weight_hh = rnn_param(rngs, (gates, hidden_size), hidden_size)
        if bias:
            self.bias_ih = rnn_param(rngs, (gates,), hidden_size)
            self.bias_hh = rnn_param(rngs, (gates,), hidden_size)

    def __call__(self, input, hx=None):
        lstm = self.mode == "LSTM"
        batched = input.ndim == 2
        x = input if batched else input[None]
        if hx is None:
            h = jnp.zeros((x.shape[0], self.hidden_size), x.dtype)
            c = h if lstm else None
        else:
            h, c = hx if lstm else (hx, None)
            if not batched:
                h = h[None]
                c = c[None] if lstm else None
        gi = x @ self.weight_ih[...].T
        if self.bias:
            gi = gi + self.bias_ih[...]
        h, c = rnn_step(self.mode, gi, h, c, self.weight_hh[...], self.bias_hh[...] if self.bias else None)
        if not batched:
            h = h[0]
            c = c[0] if lstm else None
        return (h, c) if lstm else h


class TorchLSTMCell(TorchRNNCellBase):
    """torch.nn.LSTMCell: returns (h, c)."""

    def __init__(self, input_size, hidden_size, bias=True, *, rngs):
        super().__init__("LSTM", input_size, hidden_size, bias, rngs=rngs)


class TorchGRUCell(TorchRNNCellBase):
    """torch.nn.GRUCell, exact for b_hn: returns h."""

    def __init__(self, input_size, hidden_size, bias=True, *, rngs):
        super().__init__("GRU", input_size, hidden_size, bias, rngs=rngs)


class TorchRNNCell(TorchRNNCellBase):
    """torch.nn.RNNCell (tanh or relu): returns h."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, rngs):
        self.nonlinearity = nonlinearity
        mode = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}[nonlinearity]
        super().__init__(mode, input_size, hidden_size, bias, rngs=rngs)


def multinomial(rngs, probs, num_samples, replacement=False):
    """torch.multinomial: indices drawn from (unnormalised) probabilities along
    the last axis, keys from ``rngs.sample()``; without replacement by the
    Gumbel top-k trick (exact for sampling without replacement)."""
    logits = jnp.log(probs)
    key = rngs.sample()
    if replacement or num_samples == 1:
        out = jax.random.categorical(key, logits, axis=-1, shape=(num_samples,) + probs.shape[:-1])
        return jnp.moveaxis(out, 0, -1)
    return jax.lax.top_k(logits + jax.random.gumbel(key, probs.shape, logits.dtype), num_samples)[1]


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """torch.nn.utils.rnn.pad_sequence: pad (L_i, *) arrays to the longest, stack
    on axis 0 (batch_first) or 1."""
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = longest - s.shape[0]
        pads = [(0, extra) if padding_side == "right" else (extra, 0)] + [(0, 0)] * (s.ndim - 1)
        padded.append(jnp.pad(s, pads, constant_values=padding_value))
    return jnp.stack(padded, axis=0 if batch_first else 1)


# Recurrent layers, end.
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# issue 6 (attention / transformers): torch-semantics attention layers.
# Weights keep torch's names and orientation where torch holds raw parameters
# (in_proj_weight, ...); nested nnx.Linear / nnx.LayerNorm follow their rows.


def attention_bias(mask, dtype, masked_value):
    """A torch attention mask as an additive bias: bool entries equal to
    ``masked_value`` become -inf, float masks are added as they are."""
    if mask is None:
        return None
    if mask.dtype == jnp.bool_:
        return jnp.where(mask == masked_value, -jnp.inf, 0.0).astype(dtype)
    return mask.astype(dtype)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, rngs=None):
    """F.scaled_dot_product_attention on torch's (..., H, L, D) layout. A bool
    ``attn_mask`` means True = attend (not inverted, unlike nn.MultiheadAttention)."""
    L, S = query.shape[-2], key.shape[-2]
    if enable_gqa and key.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        rep = query.shape[-3] // key.shape[-3]
        key = jnp.repeat(key, rep, axis=-3)
        value = jnp.repeat(value, rep, axis=-3)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    logits = (query @ jnp.swapaxes(key, -2, -1)) * scale
    if is_causal:
        logits = jnp.where(jnp.tril(jnp.ones((L, S), dtype=bool)), logits, -jnp.inf)
    bias = attention_bias(attn_mask, logits.dtype, False)
    if bias is not None:
        logits = logits + bias
    weights = jax.nn.softmax(logits, axis=-1)
    if dropout_p and rngs is not None:  # torch drops whenever dropout_p > 0
        keep = jax.random.bernoulli(rngs.dropout(), 1.0 - dropout_p, weights.shape)
        weights = jnp.where(keep, weights / (1.0 - dropout_p), 0.0)
    return weights @ value


class TorchMultiheadAttention(nnx.Module):
    """torch.nn.MultiheadAttention: the same arguments, call and tuple return
    (output, attention weights or None); masks keep torch's meaning (a bool
    True = masked out, floats are added). nnx.MultiHeadAttention differs in
    argument order, mask polarity, returned weights and dropout broadcasting."""

    _torch_hidden = ("dropout",)  # a float in torch, not a submodule

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None, *, rngs):
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("add_bias_kv / add_zero_attn")
        self.embed_dim, self.num_heads, self.batch_first = embed_dim, num_heads, batch_first
        self.head_dim = embed_dim // num_heads
        kdim = embed_dim if kdim is None else kdim
        vdim = embed_dim if vdim is None else vdim
        init = nnx.initializers.xavier_uniform()
        if kdim == embed_dim and vdim == embed_dim:
            self.in_proj_weight = nnx.Param(init(rngs.params(), (3 * embed_dim, embed_dim)))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = nnx.Param(init(rngs.params(), (embed_dim, embed_dim)))
            self.k_proj_weight = nnx.Param(init(rngs.params(), (embed_dim, kdim)))
            self.v_proj_weight = nnx.Param(init(rngs.params(), (embed_dim, vdim)))
        self.in_proj_bias = nnx.Param(jnp.zeros((3 * embed_dim,))) if bias else None
        self.out_proj = nnx.Linear(embed_dim, embed_dim, use_bias=bias, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                 average_attn_weights=True, is_causal=False):
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = query[None], key[None], value[None]
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask[None]
        elif not self.batch_first:
            query, key, value = (jnp.swapaxes(t, 0, 1) for t in (query, key, value))
        E, H, D = self.embed_dim, self.num_heads, self.head_dim
        if self.in_proj_weight is not None:
            wq, wk, wv = jnp.split(self.in_proj_weight[...], 3)
        else:
            wq, wk, wv = self.q_proj_weight[...], self.k_proj_weight[...], self.v_proj_weight[...]
        bq, bk, bv = jnp.split(self.in_proj_bias[...], 3) if self.in_proj_bias is not None else (0.0, 0.0, 0.0)
        n, l, s = query.shape[0], query.shape[1], key.shape[1]
        q = (query @ wq.T + bq).reshape(n, l, H, D).transpose(0, 2, 1, 3)
        k = (key @ wk.T + bk).reshape(n, s, H, D).transpose(0, 2, 1, 3)
        v = (value @ wv.T + bv).reshape(n, s, H, D).transpose(0, 2, 1, 3)
        logits = (q @ jnp.swapaxes(k, -2, -1)) / math.sqrt(D)
        if attn_mask is None and is_causal:
            attn_mask = ~jnp.tril(jnp.ones((l, s), dtype=bool))
        bias = attention_bias(attn_mask, logits.dtype, True)
        if bias is not None:
            logits = logits + (bias.reshape(n, H, l, s) if bias.ndim == 3 else bias)
        bias = attention_bias(key_padding_mask, logits.dtype, True)
        if bias is not None:
            logits = logits + bias[:, None, None, :]
        weights = self.dropout(jax.nn.softmax(logits, axis=-1))
        out = (weights @ v).transpose(0, 2, 1, 3).reshape(n, l, E)
        out = self.out_proj(out)
        if unbatched:
            out, weights = out[0], weights[0]
        elif not self.batch_first:
            out = jnp.swapaxes(out, 0, 1)
        if not need_weights:
            return out, None
        return out, (weights.mean(axis=-3) if average_attn_weights else weights)


def transformer_activation(activation):
    """torch's Transformer ``activation``: "relu", "gelu" or a callable."""
    if activation == "relu":
        return jax.nn.relu
    if activation == "gelu":
        return functools.partial(jax.nn.gelu, approximate=False)
    return activation


class TorchTransformerEncoderLayer(nnx.Module):
    """torch.nn.TransformerEncoderLayer (same arguments, call and attribute
    names, so the state_dict keys match)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-05,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None, *, rngs):
        self.self_attn = TorchMultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 rngs=rngs)
        self.linear1 = nnx.Linear(d_model, dim_feedforward, use_bias=bias, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.linear2 = nnx.Linear(dim_feedforward, d_model, use_bias=bias, rngs=rngs)
        self.norm_first = norm_first
        # torch's fast paths need relu/gelu by name or as F.relu/F.gelu
        self.activation_relu_or_gelu = activation in ("relu", "gelu") or getattr(activation, "__name__", "") in (
            "relu", "gelu") or getattr(getattr(activation, "func", None), "__name__", "") == "gelu"
        self.layer_norm_eps = layer_norm_eps
        self.norm1 = nnx.LayerNorm(d_model, epsilon=layer_norm_eps, use_bias=bias, use_fast_variance=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(d_model, epsilon=layer_norm_eps, use_bias=bias, use_fast_variance=False, rngs=rngs)
        self.dropout1 = nnx.Dropout(dropout, rngs=rngs)
        self.dropout2 = nnx.Dropout(dropout, rngs=rngs)
        self.activation = transformer_activation(activation)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def __call__(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x


class TorchTransformerEncoder(nnx.Module):
    """torch.nn.TransformerEncoder: ``num_layers`` copies of ``encoder_layer``
    (each with its own parameters, like torch's deepcopy) and an optional norm."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True, *, rngs):
        layers = [encoder_layer]
        for _ in range(num_layers - 1):
            layers.append(nnx.clone(encoder_layer))  # torch deep-copies the layer: equal initial values
        self.layers = nnx.List(layers)
        self.num_layers = num_layers
        self.norm = norm
        attn = encoder_layer.self_attn
        # torch's inference fast path (nested tensors) leaves padded positions at 0
        self.use_nested_tensor = bool(
            enable_nested_tensor and not encoder_layer.norm_first and attn.batch_first
            and attn.in_proj_weight is not None and attn.in_proj_bias is not None
            and encoder_layer.activation_relu_or_gelu and attn.num_heads % 2 == 0)
        self.mask_check = mask_check

    def __call__(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for mod in self.layers:
            x = mod(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        kpm = src_key_padding_mask
        if self.use_nested_tensor and kpm is not None and mask is None and src.ndim == 3 \
                and self.layers[0].dropout.deterministic:
            # torch in eval mode without autograd: padded positions of the output are 0
            # (when the padding is at the end of each row, which mask_check verifies)
            pad = kpm if kpm.dtype == jnp.bool_ else kpm != 0
            fast = jnp.all(pad[:, 1:] >= pad[:, :-1]) if self.mask_check else True
            x = jnp.where(fast & pad[..., None], 0.0, x)
        if self.norm is not None:
            x = self.norm(x)
        return x


def rms_norm(x, normalized_shape, weight=None, eps=None):
    """F.rms_norm (eps=None is float32's machine epsilon, as in torch)."""
    n = 1 if isinstance(normalized_shape, int) else len(tuple(normalized_shape))
    axes = tuple(range(-n, 0))
    eps = jnp.finfo(x.dtype).eps if eps is None else eps
    y = x * jax.lax.rsqrt(jnp.square(x).mean(axes, keepdims=True) + eps)
    return y * weight if weight is not None else y


class TiedLinear(nnx.Module):
    """A Linear whose weight is an Embedding's table (torch weight tying): one
    nnx.Param shared with the nnx.Embed, (out_features, in_features) like torch's."""

    def __init__(self, embed, linear):
        self.weight = embed.embedding
        self.bias = linear.bias if linear is not None else None

    def __call__(self, x):
        y = x @ self.weight[...].T
        return y if self.bias is None else y + self.bias[...]


def tie_weights(dst_owner, dst_name, src_owner, src_name):
    """torch's ``dst.weight = src.weight``: both layers use one nnx.Param from
    then on (the weights loader fills it once)."""
    def get(owner, name):
        return owner[name] if isinstance(owner, nnx.Dict) else getattr(owner, name)

    def put(owner, name, value):
        if isinstance(owner, nnx.Dict):
            owner[name] = value
        else:
            setattr(owner, name, value)

    dst, src = get(dst_owner, dst_name), get(src_owner, src_name)
    if isinstance(dst, nnx.Embed) and isinstance(src, (nnx.Linear, TiedLinear)):
        put(src_owner, src_name, TiedLinear(dst, src))
    elif isinstance(src, nnx.Embed) and isinstance(dst, (nnx.Linear, TiedLinear)):
        put(dst_owner, dst_name, TiedLinear(src, dst))
    elif isinstance(dst, nnx.Embed) and isinstance(src, nnx.Embed):
        dst.embedding = src.embedding
    elif isinstance(dst, nnx.Linear) and isinstance(src, nnx.Linear):
        dst.kernel = src.kernel
    elif isinstance(src, TiedLinear) and isinstance(dst, TiedLinear):
        dst.weight = src.weight
    else:
        raise NotImplementedError(f"weight tying between {type(dst).__name__} and {type(src).__name__}")


class FrozenParam(nnx.Variable):
    """A parameter that torch code froze (``requires_grad_(False)``,
    ``p.requires_grad = False``). Not an nnx.Param, so ``nnx.Optimizer(model,
    tx, wrt=nnx.Param)`` and ``nnx.grad`` over nnx.Param leave it alone; the
    Module API helpers and the weights loader still see it as a parameter."""


def factory_kwargs_only(kwargs, layer, read=()):
    """``super().__init__(..., **kwargs)`` of a translated torch layer: the layer's
    own arguments (``read``) were taken from it, torch's factory arguments
    (device, dtype) have no NNX meaning and are dropped; anything else the
    translation would lose, so it is refused."""
    extra = sorted(k for k in kwargs if k not in ("device", "dtype") and k not in read)
    if extra:
        raise TypeError(f"{layer}: arguments passed through **kwargs are not translated: {', '.join(extra)}")


def module_sequence(module):
    """A module used as a sequence (``enumerate(backbone)``, ``for b in m``,
    ``len(m)``) where the translator could not tell it is a Sequential (an
    attribute of a model handed in): an nnx.Sequential's layers, anything else
    as it is."""
    if isinstance(module, nnx.Sequential):
        return module.layers
    return module


def module_item(module, idx):
    """``m[i]`` / ``m[a:b]`` on a module that may be an nnx.Sequential at run time:
    its layer, or a Sequential of the slice as torch gives; anything else indexed."""
    if isinstance(module, nnx.Sequential):
        if isinstance(idx, slice):
            return nnx.Sequential(*module.layers[idx])
        return module.layers[idx]
    return module[idx]


def module_own_method(obj, name):
    """``obj``'s own ``name`` method where it has one (a translated class that
    defines ``parameters``, a recurrent layer, an object that is not an NNX
    module); None where the torch Module API helper applies."""
    if isinstance(obj, nnx.Module) and not hasattr(type(obj), name):
        return None
    if callable(obj) and not hasattr(obj, name):
        return None  # a stateless layer held as a function: a module with no children
    return getattr(obj, name)


def nnx_internal(name):
    """An attribute NNX keeps its own state in: not one of torch's (a
    ``self._conv_stem`` of the model is a child named ``_conv_stem``)."""
    return name.startswith(("_pytree__", "_object__"))


def module_attr_items(node):
    """``vars(node)`` in the order the attributes were first assigned: flax
    keeps that order in ``_pytree__nodes`` through nnx.clone / split / merge,
    which rebuild ``vars`` sorted."""
    attrs = vars(node)
    order = [k for k in getattr(node, "_pytree__nodes", ()) if k in attrs]
    return [(k, attrs[k]) for k in order] + [(k, v) for k, v in attrs.items() if k not in set(order)]


def module_entries(node):
    """A container's entries as torch names them (indices, or the names given),
    or None for a module that is not a container."""
    if isinstance(node, nnx.Sequential):
        return [(str(i), v) for i, v in enumerate(node.layers)]
    if getattr(type(node), "_torch_container", None):  # NamedSequential, OrderedModuleDict
        return [(str(k), v) for k, v in node.items()]
    if isinstance(node, nnx.Dict):  # insertion order, as torch's ModuleDict
        return [(str(k), v) for k, v in module_attr_items(node) if not nnx_internal(str(k))]
    if isinstance(node, nnx.List):
        return [(str(i), v) for i, v in enumerate(node)]
    return None


def module_stateless_names(node):
    """Attributes holding stateless torch layers that NNX keeps as functions
    (``self.relu = nn.ReLU()`` -> ``jax.nn.relu``): listed by the translated
    class in ``_stateless_layers``, or recorded by ``module_add_module``."""
    names = set(vars(node).get("_stateless_layers", ()))
    for c in type(node).__mro__:
        names.update(c.__dict__.get("_stateless_layers", ()))
    return names


def module_child_items(node):
    """(name, child) for torch's ``_modules`` of ``node``, in registration order
    (the order the attributes were assigned); containers by index or name.
    Stateless layers kept as functions are children like in torch; a layer of
    NNX's own (nnx.Conv, ...) and a class marked ``_torch_leaf`` have none; a
    helper class's ``_torch_hidden`` attributes are not torch submodules."""
    if not isinstance(node, nnx.Module):
        return []
    entries = module_entries(node)
    out = [(k, v) for k, v in (entries or []) if v is not None]
    if type(node).__module__.startswith("flax.") or getattr(type(node), "_torch_leaf", False):
        return out
    skip = {k for k, _ in entries or []} | set(getattr(type(node), "_torch_hidden", ()))
    if entries is not None:
        skip |= {"layers", "order"}  # where the containers keep their entries
    stateless = module_stateless_names(node)
    for k, v in module_attr_items(node):
        if nnx_internal(k) or k in skip:
            continue
        if isinstance(v, nnx.Module) or (k in stateless and v is not None and callable(v)):
            out.append((k, v))
    return out


def module_named_children(module, *args, **kwargs):
    """torch's Module.named_children: (name, child) pairs in registration order,
    each module once (a stateless layer held as a function counts as its own)."""
    own = module_own_method(module, "named_children")
    if own is not None:
        return own(*args, **kwargs)
    out, seen = [], set()
    for name, child in module_child_items(module):
        if isinstance(child, nnx.Module):
            if id(child) in seen:
                continue
            seen.add(id(child))
        out.append((name, child))
    return iter(out)


def module_children(module, *args, **kwargs):
    """torch's Module.children."""
    own = module_own_method(module, "children")
    if own is not None:
        return own(*args, **kwargs)
    return iter([m for _, m in module_named_children(module)])


def module_walk(module, memo=None, prefix="", remove_duplicate=True):
    """torch's named_modules order: the module, then each child's subtree."""
    memo = set() if memo is None else memo
    out = []

    def walk(m, path):
        if isinstance(m, nnx.Module):
            if remove_duplicate:
                if id(m) in memo:
                    return
                memo.add(id(m))
        out.append((path, m))
        for name, child in module_child_items(m):
            walk(child, path + "." + name if path else name)

    walk(module, prefix)
    return out


def module_named_modules(module, *args, **kwargs):
    """torch's Module.named_modules: ("", module) first, then every submodule
    in pre-order, names joined with "."; stateless layers held as functions
    are yielded too (``isinstance`` checks never match them)."""
    own = module_own_method(module, "named_modules")
    if own is not None:
        return own(*args, **kwargs)
    return iter(module_walk(module, *args, **kwargs))


def module_modules(module, *args, **kwargs):
    """torch's Module.modules."""
    own = module_own_method(module, "modules")
    if own is not None:
        return own(*args, **kwargs)
    return iter([m for _, m in module_walk(module)])


def module_torch_names(node):
    """((torch name, NNX attribute), ...) of an NNX layer's own parameters and
    buffers (nnx.Linear: weight -> kernel), from the rule rows; None for a
    module whose attributes keep torch's names."""
    for c in type(node).__mro__:
        key = "nnx." + c.__name__ if c.__module__.startswith("flax.") else c.__name__
        if key in TORCH_LAYER_NAMES:
            return TORCH_LAYER_NAMES[key]
    return None


def module_torch_attr_form(node, name):
    """How an NNX layer holds torch's hyperparameter ``name`` (an nnx.Conv's
    ``out_channels`` is its ``out_features``): an attribute name or an expression
    over ``{layer}``; None where the layer's own class (a translated subclass)
    holds ``name`` itself, or no row maps it."""
    if name in getattr(node, "__dict__", {}):
        return None
    for c in type(node).__mro__:
        flax = c.__module__.startswith("flax.")
        if not flax and name in c.__dict__:
            return None
        key = "nnx." + c.__name__ if flax else c.__name__
        if key in TORCH_LAYER_ATTRS:
            return dict(TORCH_LAYER_ATTRS[key]).get(name)
    return None


def torch_layer_attr(module, name):
    """``layer.weight`` on a module the translator could not tell: the NNX layer's
    attribute holding torch's ``name`` (an nnx.Linear's ``weight`` is its ``kernel``,
    a norm's its ``scale``, a Conv's ``out_channels`` its ``out_features``), else the
    attribute itself. A kernel held in another order than torch's is marked with it
    (torch_weight), so torch's fans read it."""
    table = module_torch_names(module) if isinstance(module, nnx.Module) else None
    for torch_name, attr in table or ():
        if torch_name == name and "." not in attr:
            value = getattr(module, attr)
            if attr == "kernel" and isinstance(value, nnx.Variable) and value.ndim >= 2:
                value = torch_weight(value, tuple(range(2, value.ndim)) + (1, 0))
            return value
    form = module_torch_attr_form(module, name) if isinstance(module, nnx.Module) else None
    if form is not None:
        if form.isidentifier():
            return getattr(module, form)
        return eval(form.format(layer="layer"), {"ntuple": ntuple}, {"layer": module})
    return getattr(module, name)


class TorchDevice(str):
    """torch's ``tensor.device`` where devices are dropped: torch's CPU device as a
    value (equal to ``'cpu'``, ``.type`` ``'cpu'``, ``.index`` None), so code that
    reads it (``x.device.type != 'meta'`` guarding ``torch.autocast``, ``== 'cuda'``
    choosing a fused kernel) takes torch's portable path, and ``device=`` arguments
    given it are dropped like any other. Built without arguments (``TorchDevice()``)
    so the expression needs no quotes: it may stand inside an f-string."""

    def __new__(cls, name="cpu"):
        return super().__new__(cls, name)

    @property
    def type(self):
        return str(self).partition(":")[0]

    @property
    def index(self):
        return None


def call_with_rngs(method, /, *args, rngs, **kwargs):
    """``m.reset_parameters(...)`` on a module of a class the translator could not
    tell, the method named like one taking ``rngs`` in some class of the run: ours
    are handed on when this bound method takes a ``rngs`` parameter, not otherwise
    (a class of another file whose method of that name draws through the module's
    own rngs, or nothing at all)."""
    import inspect

    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):  # a builtin: it takes no rngs
        params = {}
    rngs_param = params.get("rngs")
    if rngs_param is not None and rngs_param.kind in (rngs_param.KEYWORD_ONLY, rngs_param.POSITIONAL_OR_KEYWORD):
        return method(*args, rngs=rngs, **kwargs)
    return method(*args, **kwargs)


def call_reset_parameters(module, /, *args, rngs, **kwargs):
    """``m.reset_parameters(...)`` on a module of a class the translator could not
    tell: its own method where it has one (ours handed on when it takes ``rngs``,
    like ``call_with_rngs``); a layer NNX provides has none, so torch's default
    initialisation of that layer is drawn again (``torch_reset_parameters``:
    a loop over modules resetting every ``nn.LayerNorm``/``nn.BatchNorm2d``)."""
    method = getattr(module, "reset_parameters", None)
    if method is not None:
        return call_with_rngs(method, *args, rngs=rngs, **kwargs)
    if args or kwargs or not any(c.__module__.startswith("flax.") for c in type(module).__mro__):
        raise AttributeError(f"{type(module).__name__!r} object has no attribute 'reset_parameters'")
    return torch_reset_parameters(module, rngs)


def torch_reset_parameters(module, rngs):
    """torch's ``reset_parameters`` of the layer a translated subclass extends
    (``super().reset_parameters()``): the layer's own parameters drawn again from
    torch's default initialisation (Linear and Conv: kaiming_uniform with a=sqrt(5),
    a bias uniform in +-1/sqrt(fan_in); norms: ones and zeros, BatchNorm's
    statistics reset)."""
    flax = next((c for c in type(module).__mro__ if c.__module__.startswith("flax.")), None)
    kind = flax.__name__ if flax is not None else type(module).__name__
    if kind in ("Linear", "Conv"):
        kernel = module.kernel
        fan_in = math.prod(kernel.shape[:-1])  # NNX's (in, out) / (*k, in // groups, out)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        kernel.set_value(jax.random.uniform(rngs.params(), kernel.shape, kernel.dtype, -bound, bound))
        if getattr(module, "bias", None) is not None:
            b = module.bias
            b.set_value(jax.random.uniform(rngs.params(), b.shape, b.dtype, -bound, bound))
        return None
    if kind in ("BatchNorm", "LayerNorm", "GroupNorm", "RMSNorm"):
        for attr, fill in (("scale", 1.0), ("bias", 0.0), ("mean", 0.0), ("var", 1.0)):
            v = getattr(module, attr, None)
            if isinstance(v, nnx.Variable):
                v.set_value(jnp.full_like(v.get_value(), fill))
        n = getattr(module, "num_batches_tracked", None)
        if isinstance(n, nnx.Variable):
            n.set_value(jnp.zeros_like(n.get_value()))
        return None
    if kind == "Embed":
        e = module.embedding
        e.set_value(jax.random.normal(rngs.params(), e.shape, e.dtype))
        return None
    raise NotImplementedError(f"torch2nnx: reset_parameters of a subclass of {kind}")


def module_is_param(var):
    return isinstance(var, nnx.Param) or type(var).__name__ == "FrozenParam"


def module_is_buffer(var):
    """torch buffers: register_buffer's (persistent or not) and BatchNorm's statistics."""
    return type(var).__name__ in ("Buffer", "NonPersistentBuffer") or isinstance(var, nnx.BatchStat)


def module_own_variables(node):
    """(torch name, nnx.Variable) of ``node``'s own parameters and buffers."""
    table = module_torch_names(node)
    if table is not None:
        pairs = [(t, getattr(node, a, None)) for t, a in table if "." not in a]
    elif module_entries(node) is not None:
        pairs = []
    else:
        pairs = [(k, v) for k, v in module_attr_items(node) if not nnx_internal(k)]
    return [(k, v) for k, v in pairs if isinstance(v, nnx.Variable)]


def module_members(module, keep, prefix="", recurse=True, remove_duplicate=True):
    mods = module_walk(module, prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, module)]
    out, seen = [], set()
    for path, m in mods:
        if not isinstance(m, nnx.Module):
            continue
        for name, var in module_own_variables(m):
            if not keep(var) or (remove_duplicate and id(var) in seen):
                continue
            seen.add(id(var))
            out.append((path + "." + name if path else name, var))
    return out


def module_named_parameters(module, *args, **kwargs):
    """torch's Module.named_parameters: (torch state_dict name, nnx.Param) pairs
    in torch's order, each shared parameter once. Names are torch's
    (``fc.weight``, ``bn.running_mean``), as the weights module maps them; the
    values are the NNX variables, in NNX's layout (a Linear kernel is (in, out))."""
    own = module_own_method(module, "named_parameters")
    if own is not None:
        return own(*args, **kwargs)
    return iter(module_members(module, module_is_param, *args, **kwargs))


def module_parameters(module, *args, **kwargs):
    """torch's Module.parameters."""
    own = module_own_method(module, "parameters")
    if own is not None:
        return own(*args, **kwargs)
    recurse = kwargs.get("recurse", args[0] if args else True)
    return iter([v for _, v in module_members(module, module_is_param, recurse=recurse)])


def module_named_buffers(module, *args, **kwargs):
    """torch's Module.named_buffers: register_buffer's buffers and BatchNorm's
    running statistics, under torch's names (BatchNorm's num_batches_tracked
    has no NNX counterpart)."""
    own = module_own_method(module, "named_buffers")
    if own is not None:
        return own(*args, **kwargs)
    return iter(module_members(module, module_is_buffer, *args, **kwargs))


def module_buffers(module, *args, **kwargs):
    """torch's Module.buffers."""
    own = module_own_method(module, "buffers")
    if own is not None:
        return own(*args, **kwargs)
    recurse = kwargs.get("recurse", args[0] if args else True)
    return iter([v for _, v in module_members(module, module_is_buffer, recurse=recurse)])


def module_apply(module, fn):
    """torch's Module.apply: ``fn`` on every child's subtree, then the module."""
    own = module_own_method(module, "apply")
    if own is not None:
        return own(fn)
    for child in module_children(module):
        if isinstance(child, nnx.Module):
            module_apply(child, fn)
        else:
            fn(child)  # a stateless layer held as a function
    fn(module)
    return module


def module_get_submodule(module, target):
    """torch's Module.get_submodule("layer1.0.conv1")."""
    own = module_own_method(module, "get_submodule")
    if own is not None:
        return own(target)
    m = module
    for item in target.split(".") if target else []:
        children = dict(module_child_items(m))
        if item not in children:
            raise AttributeError(f"{type(m).__name__} has no attribute `{item}`")
        m = children[item]
    return m


def module_add_module(owner, name, module):
    """torch's Module.add_module / register_module on a translated module or
    container: an attribute, a named entry or the next index. The parameters
    after the receiver are torch's (``self.add_module(name=..., module=conv)``)."""
    own = module_own_method(owner, "add_module")
    if own is not None:
        return own(name, module)
    if isinstance(owner, nnx.Dict):
        owner[name] = module
        return None
    if isinstance(owner, (nnx.Sequential, nnx.List)):
        seq = owner.layers if isinstance(owner, nnx.Sequential) else owner
        if str(name) != str(len(seq)):
            raise NotImplementedError(f"add_module({name!r}) on an {type(owner).__name__}: only the next index "
                                      "keeps torch's names (a NamedSequential keeps any)")
        seq.append(module)
        return None
    setattr(owner, name, module)
    if module is not None and not isinstance(module, nnx.Module) and callable(module):
        # a stateless torch layer held as a function: still a child for the Module API
        owner._stateless_layers = tuple(vars(owner).get("_stateless_layers", ())) + (name,)
    return None


def module_requires_grad_(obj, requires_grad=True):
    """torch's ``requires_grad_`` on a module (all its parameters) or a
    parameter: a frozen nnx.Param becomes a FrozenParam (the same object, so
    tied weights stay tied), and back. A plain array is returned as it is:
    JAX differentiates only what it is asked to."""
    if not isinstance(obj, (nnx.Module, nnx.Variable, jax.Array)):
        return obj.requires_grad_(requires_grad)
    params = [obj] if isinstance(obj, nnx.Variable) else [v for _, v in module_members(obj, module_is_param)] \
        if isinstance(obj, nnx.Module) else []
    for var in params:
        if requires_grad and type(var).__name__ == "FrozenParam":
            var.__class__ = nnx.Param
        elif not requires_grad and type(var) is nnx.Param:
            var.__class__ = FrozenParam
    return obj


def module_requires_grad(obj):
    """torch's ``p.requires_grad``: True for an nnx.Param, False for a frozen one
    (FrozenParam), a buffer or a plain array."""
    if isinstance(obj, (nnx.Variable, jax.Array)) or not hasattr(obj, "requires_grad"):
        return isinstance(obj, nnx.Param)
    return obj.requires_grad


def module_training(module):
    """torch's ``module.training`` read off a module handed to a function: the
    translated mode flag (``deterministic``, which model.eval() / .train() set);
    any other object's own ``training`` attribute (a config's)."""
    if not isinstance(module, nnx.Module):
        return module.training
    flag = getattr(module, "deterministic", None)
    if flag is None:
        raise AttributeError(f"{type(module).__name__} keeps no mode flag to read `training` from")
    return not flag


def module_train(module, mode=True):
    """torch's ``module.train(mode)`` / ``module.eval()``: NNX's train() / eval()
    (Dropout, BatchNorm and the translated ``self.training`` flags); returns
    the module, as torch does."""
    if isinstance(module, nnx.Module) and type(module).train is nnx.Module.train:
        if mode:
            module.train()
        else:
            module.eval()
        return module
    train = getattr(module, "train", None)
    if train is None:
        return module  # a stateless layer kept as a function: nothing to switch
    return train(mode)


class TorchTransformerDecoderLayer(nnx.Module):
    """torch.nn.TransformerDecoderLayer (same arguments, call and attribute
    names, so the state_dict keys match)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-05,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None, *, rngs):
        self.self_attn = TorchMultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 rngs=rngs)
        self.multihead_attn = TorchMultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                      batch_first=batch_first, rngs=rngs)
        self.linear1 = nnx.Linear(d_model, dim_feedforward, use_bias=bias, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.linear2 = nnx.Linear(dim_feedforward, d_model, use_bias=bias, rngs=rngs)
        self.norm_first = norm_first
        self.norm1 = nnx.LayerNorm(d_model, epsilon=layer_norm_eps, use_bias=bias, use_fast_variance=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(d_model, epsilon=layer_norm_eps, use_bias=bias, use_fast_variance=False, rngs=rngs)
        self.norm3 = nnx.LayerNorm(d_model, epsilon=layer_norm_eps, use_bias=bias, use_fast_variance=False, rngs=rngs)
        self.dropout1 = nnx.Dropout(dropout, rngs=rngs)
        self.dropout2 = nnx.Dropout(dropout, rngs=rngs)
        self.dropout3 = nnx.Dropout(dropout, rngs=rngs)
        self.activation = transformer_activation(activation)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def __call__(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                 memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x


class TorchTransformerDecoder(nnx.Module):
    """torch.nn.TransformerDecoder: ``num_layers`` copies of ``decoder_layer``
    and an optional norm."""

    def __init__(self, decoder_layer, num_layers, norm=None, *, rngs):
        layers = [decoder_layer]
        for _ in range(num_layers - 1):
            layers.append(nnx.clone(decoder_layer))  # torch deep-copies the layer: equal initial values
        self.layers = nnx.List(layers)
        self.num_layers = num_layers
        self.norm = norm

    def __call__(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                 memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for mod in self.layers:
            x = mod(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                    memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=bool(tgt_is_causal),
                    memory_is_causal=memory_is_causal)
        if self.norm is not None:
            x = self.norm(x)
        return x


class TorchTransformer(nnx.Module):
    """torch.nn.Transformer: an encoder and a decoder stack with final norms
    (same arguments, call and attribute names)."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-05,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None, *, rngs):
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TorchTransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                                 batch_first, norm_first, bias, rngs=rngs)
            norm = nnx.LayerNorm(d_model, epsilon=layer_norm_eps, use_bias=bias, use_fast_variance=False, rngs=rngs)
            self.encoder = TorchTransformerEncoder(layer, num_encoder_layers, norm, rngs=rngs)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TorchTransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                                 batch_first, norm_first, bias, rngs=rngs)
            norm = nnx.LayerNorm(d_model, epsilon=layer_norm_eps, use_bias=bias, use_fast_variance=False, rngs=rngs)
            self.decoder = TorchTransformerDecoder(layer, num_decoder_layers, norm, rngs=rngs)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def __call__(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                 tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                 memory_is_causal=False):
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)


def generate_square_subsequent_mask(sz, device=None, dtype=None):
    """nn.Transformer.generate_square_subsequent_mask: -inf above the diagonal, 0 elsewhere."""
    return jnp.triu(jnp.full((sz, sz), -jnp.inf, dtype=dtype or jnp.float32), k=1)


# end of issue 6 (attention / transformers) helpers


# Arguments that are not literals in the torch source (``reduction=self.reduction``,
# ``descending=desc``): the row's choice made at run time, as torch makes it.


def pool_stride(stride, kernel_size, n):
    """A pooling layer's stride as an n-tuple: torch's ``stride=None`` is the kernel size."""
    return ntuple(kernel_size if stride is None else stride, n)


def loss_reduction(x, reduction):
    """A loss's ``reduction`` argument."""
    if reduction == "mean":
        return jnp.mean(x)
    if reduction == "sum":
        return jnp.sum(x)
    if reduction == "none":
        return x
    raise ValueError(f"{reduction} is not a valid value for reduction")


def div_rounding(x, y, rounding_mode=None):
    """torch.div with its ``rounding_mode``."""
    if rounding_mode is None:
        return x / y
    if rounding_mode == "floor":
        return jnp.floor_divide(x, y)
    if rounding_mode == "trunc":
        return jnp.trunc(x / y)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def sort_values(x, axis=-1, descending=False):
    """Tensor.sort: (values, indices), stable as torch's."""
    if descending:
        return -jnp.sort(-x, axis=axis), jnp.argsort(-x, axis=axis, stable=True)
    return jnp.sort(x, axis=axis), jnp.argsort(x, axis=axis, stable=True)


def tensor_norm(x, p="fro", axis=None, keepdims=False):
    """Tensor.norm / torch.norm with a number (or 'fro'): a vector norm over ``axis``, all dims when None."""
    if p == "fro":
        p = 2
    return jnp.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=p)


def calculate_gain2(nonlinearity, param=None):
    """torch.nn.init.calculate_gain(nonlinearity, param) ** 2 (the scale jax's variance_scaling takes)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 25.0 / 9.0
    if nonlinearity == "relu":
        return 2.0
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return 2.0 / (1 + slope**2)
    if nonlinearity == "selu":
        return 9.0 / 16.0
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def conv_padding_mode(padding, padding_mode, kernel_size, dilation, n):
    """nn.ConvNd's padding and padding_mode as nnx.Conv padding. nnx pads
    reflect/circular by ((k-1)//2, k//2) only: other paddings raise."""
    if padding_mode == "zeros" or padding == "valid" or all(p == 0 for p in ntuple(padding, n)):
        return conv_padding(padding, n)  # nothing padded: the mode does not matter
    if padding_mode not in ("reflect", "circular"):
        raise NotImplementedError(f"padding_mode={padding_mode!r} has no nnx.Conv counterpart")
    eff = [d * (k - 1) + 1 for k, d in zip(ntuple(kernel_size, n), ntuple(dilation, n))]
    if padding == "same" or (all(e % 2 == 1 for e in eff) and ntuple(padding, n) == tuple((e - 1) // 2 for e in eff)):
        return padding_mode.upper()
    raise NotImplementedError(f"padding_mode={padding_mode!r} with padding={padding!r}: nnx pads ((k-1)//2, k//2) only")


def torch_broadcast_cl(v, perm, like=None):
    """A tensor in torch's order whose rank is known only at run time (a per-channel
    ``scale.view(self.shape)``, the shape computed in ``__init__``), next to one held
    in the order ``perm`` (axis i holds torch's axis perm[i]): given torch's leading
    1s and that order, so the two broadcast as they do in torch. ``like``, that
    other operand, of another rank than ``perm``'s is not the channels-last map but
    a tensor torch holds as it is (tokens a module written for maps is handed too):
    ``v`` broadcasts against it as in torch."""
    if isinstance(v, nnx.Variable):
        v = v.get_value()
    v = jnp.asarray(v)
    rank = len(perm)
    if like is not None and getattr(like, "ndim", rank) != rank:
        return v
    if v.ndim > rank:
        raise ValueError(f"torch2nnx: an operand of rank {v.ndim} next to a rank-{rank} channels-last "
                         f"tensor: its layout is unknown")
    return jnp.transpose(v.reshape((1,) * (rank - v.ndim) + tuple(v.shape)), perm)


def reshape_or_pass(layer, x, to_torch):
    """A layer chosen at run time between a reshape (``nn.Flatten``) and one that
    keeps its input's layout (``nn.Identity``), handed a channels-last ``x``: a
    layer keeping the rank keeps the layout (the map stays channels-last); one
    changing it reshapes torch's order, so it sees ``x`` transposed back to torch's
    order (``to_torch``), as torch flattens it. Ranks are static: under jit only
    one branch is traced."""
    y = layer(x)
    if y.ndim == x.ndim or x.ndim != len(to_torch):
        return y
    return layer(jnp.transpose(x, to_torch))


def torch_order(x, axes):
    """A channels-last map, or torch's flattening of it chosen at run time
    (``reshape_or_pass``), in torch's order: only the map is transposed."""
    return jnp.transpose(x, axes) if x.ndim == len(axes) else x


def channels_last_axis(axis, perm):
    """Where torch's axis ``axis`` (or each of a tuple of them) of a tensor held in
    the order ``perm`` (axis i holds torch's axis perm[i]) lives: a dim known only
    at run time, read on a channels-last tensor."""
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        return tuple(channels_last_axis(a, perm) for a in axis)
    return perm.index(axis % len(perm))


def map_order(x, axes):
    """A map in torch's order, or torch's flattening of it chosen at run time
    (``reshape_or_pass``), made channels-last: only the map is transposed."""
    return jnp.transpose(x, axes) if x.ndim == len(axes) else x


def _channel_layer_types():
    return (nnx.BatchNorm, nnx.Conv, nnx.ConvTranspose, nnx.GroupNorm, nnx.InstanceNorm, ChannelPReLU)


def _channels_last_pool(layer):
    """torch's MaxPoolNd / AvgPoolNd as translated: a partial of nnx.max_pool /
    nnx.avg_pool or of the max_pool / avg_pool helpers, all channels-last."""
    return isinstance(layer, functools.partial) and getattr(layer.func, "__name__", None) in ("max_pool", "avg_pool")


def torch_order_layer(layer, x, *args, **kwargs):
    """A layer of a class known only at run time (``self.norm = norm_layer(dim)``)
    handed ``x`` in torch's order. torch's channel layers (BatchNorm, Conv,
    GroupNorm, InstanceNorm, PReLU) read the channels on axis 1 of a rank-3+ input;
    NNX's read the last axis: such a layer gets ``x`` channels-last and its result
    back in torch's order. Any other layer (LayerNorm on tokens, Identity, a
    translated module) gets ``x`` as it is. A map whose last axis already holds the
    layer's channels and whose axis 1 does not (a pooled (N, 1, 1, C) map the
    analysis could only call plain, before a 1x1-conv classifier) is channels-last:
    it is handed over as it is. Ranks, shapes and classes are static under jit."""
    if _channels_last_pool(layer) and getattr(x, "ndim", 0) >= 3:
        # a pooling layer (a partial of a channels-last pool): pools the spatial axes
        # only once the channels are last
        return jnp.moveaxis(layer(jnp.moveaxis(x, 1, -1), *args, **kwargs), -1, 1)
    if isinstance(layer, _channel_layer_types()) and getattr(x, "ndim", 0) >= 3:
        channels = next((getattr(layer, a) for a in ("num_features", "in_features", "num_channels")
                         if isinstance(getattr(layer, a, None), int)), None)
        if channels is not None and x.shape[-1] == channels and x.shape[1] != channels:
            return layer(x, *args, **kwargs)
        y = layer(jnp.moveaxis(x, 1, -1), *args, **kwargs)
        return jnp.moveaxis(y, -1, 1) if getattr(y, "ndim", 0) == x.ndim else y
    if type(layer) is nnx.Sequential and not args and not kwargs:
        # a Sequential a factory filled (mlp-mixer's FeedForward(dense=partial(nn.Conv1d,
        # kernel_size=1))): each of its layers as torch runs it
        for sub in layer.layers:
            x = torch_order_layer(sub, x)
        return x
    return layer(x, *args, **kwargs)


def median_with_indices(x, axis, keepdims=False):
    """torch.median(x, dim): the lower of the two middle values (not their mean,
    as jnp.median takes) and its index."""
    k = (x.shape[axis] - 1) // 2
    index = jnp.take(jnp.argsort(x, axis=axis, stable=True), jnp.array([k]), axis=axis)
    values = jnp.take_along_axis(x, index, axis=axis)
    if not keepdims:
        values, index = jnp.squeeze(values, axis), jnp.squeeze(index, axis)
    return values, index


def cumulative_extreme(x, axis, largest=True):
    """torch.cummax / cummin: (values, indices) of the running extreme; on a tie the
    later index, as torch's."""
    axis = axis % x.ndim
    index = jax.lax.broadcasted_iota(jnp.int32, x.shape, axis)

    def combine(a, b):
        take = b[0] >= a[0] if largest else b[0] <= a[0]
        return jnp.where(take, b[0], a[0]), jnp.where(take, b[1], a[1])

    return jax.lax.associative_scan(combine, (x, index), axis=axis)
