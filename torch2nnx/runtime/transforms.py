"""Weight transforms: torch array (numpy) -> NNX array (numpy)."""

import numpy as np


def linear_kernel(w):
    # (out, in) -> (in, out)
    return w.T


def conv_kernel(w):
    # (out, in/groups, *kernel) -> (*kernel, in/groups, out); also ConvTranspose
    # with transpose_kernel=True: (in, out, *kernel) -> (*kernel, out, in)
    return np.transpose(w, tuple(range(2, w.ndim)) + (1, 0))


def flat(w):
    # multi-dim LayerNorm weight (C, H, W) -> NNX scale (C*H*W,)
    return w.reshape(-1)


def scalar(w):
    # PReLU weight (1,) -> NNX negative_slope ()
    return w.reshape(())
