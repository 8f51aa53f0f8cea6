"""Loss functions with torch's formulas (copied into generated files, like
helpers.py).

Each function takes torch's functional arguments under torch's names, in
torch's (logical) order: the class axis of ``cross_entropy`` / ``nll_loss`` is
1 (0 for an unbatched input), as in ``F.cross_entropy``. The loss rows
(rules/losses.py) call them, and bind a loss module's constructor arguments
with ``functools.partial``. Values and gradients follow torch (the reductions,
``ignore_index`` left out of the mean, class weights normalising the mean,
label smoothing, BCE's log clamp at -100).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax


def loss_reduce(x, reduction):
    """A loss's ``reduction``: 'mean', 'sum' or 'none'."""
    if reduction == "mean":
        return jnp.mean(x)
    if reduction == "sum":
        return jnp.sum(x)
    if reduction == "none":
        return x
    raise ValueError(f"{reduction} is not a valid value for reduction")


def loss_class_axis(x):
    """torch's class axis: 1 for (N, C, d1, ...), 0 for an unbatched (C,)."""
    return 1 if x.ndim >= 2 else 0


def nll_terms(logp, target, weight, ignore_index):
    """Per-element negative log-likelihoods (class axis last) and their weights
    (0 where the target is ``ignore_index``)."""
    valid = target != ignore_index
    safe = jnp.where(valid, target, 0)
    picked = jnp.take_along_axis(logp, safe[..., None].astype(jnp.int32), axis=-1)[..., 0]
    w = jnp.ones(picked.shape, logp.dtype) if weight is None else jnp.asarray(weight, logp.dtype)[safe]
    w = jnp.where(valid, w, 0.0)
    return -picked * w, w


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """F.nll_loss over log-probabilities (N, C, d1, ...) or (C,)."""
    logp = jnp.moveaxis(input, loss_class_axis(input), -1)
    nll, w = nll_terms(logp, target, weight, ignore_index)
    if reduction == "mean":
        return nll.sum() / w.sum()
    return loss_reduce(nll, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """F.cross_entropy: class indices (with ``ignore_index``, class ``weight``,
    ``label_smoothing``) or class probabilities of the input's shape."""
    axis = loss_class_axis(input)
    logp = jnp.moveaxis(jax.nn.log_softmax(input, axis=axis), axis, -1)
    n = logp.shape[-1]
    cw = None if weight is None else jnp.asarray(weight, logp.dtype)
    if not jnp.issubdtype(target.dtype, jnp.integer):
        # class probabilities (the input's shape): the mean is over the batch elements
        probs = jnp.moveaxis(target, axis, -1).astype(logp.dtype)
        if label_smoothing > 0.0:
            probs = probs * (1.0 - label_smoothing) + label_smoothing / n
        terms = logp * probs if cw is None else logp * probs * cw
        loss = -terms.sum(-1)
        return loss.sum() / loss.size if reduction == "mean" else loss_reduce(loss, reduction)
    nll, w = nll_terms(logp, target, cw, ignore_index)
    if label_smoothing > 0.0:
        valid = target != ignore_index
        smooth = -(logp if cw is None else logp * cw).sum(-1)
        smooth = jnp.where(valid, smooth, 0.0)
        if reduction == "mean":
            return (1.0 - label_smoothing) * nll.sum() / w.sum() + label_smoothing / n * smooth.sum() / w.sum()
        return loss_reduce((1.0 - label_smoothing) * nll + label_smoothing / n * smooth, reduction)
    if reduction == "mean":
        return nll.sum() / w.sum()
    return loss_reduce(nll, reduction)


def loss_weighted(loss, weight, reduction):
    """An elementwise ``weight`` (F.mse_loss's and F.l1_loss's): the mean is
    normalised by the weights' sum, as torch does."""
    if weight is None:
        return loss_reduce(loss, reduction)
    if reduction == "mean":
        return (loss * weight).sum() / weight.sum()
    return loss_reduce(loss * weight, reduction)


def mse_loss(input, target, reduction="mean", weight=None):
    """F.mse_loss."""
    return loss_weighted((input - target) ** 2, weight, reduction)


def l1_loss(input, target, reduction="mean", weight=None):
    """F.l1_loss."""
    return loss_weighted(jnp.abs(input - target), weight, reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """F.smooth_l1_loss (beta=0 is the L1 loss, as in torch)."""
    d = jnp.abs(input - target)
    if beta == 0.0:
        return loss_reduce(d, reduction)
    return loss_reduce(jnp.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """F.huber_loss (an elementwise ``weight``: a plain mean, unlike mse_loss's)."""
    d = jnp.abs(input - target)
    loss = jnp.where(d < delta, 0.5 * d**2, delta * (d - 0.5 * delta))
    return loss_reduce(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """F.binary_cross_entropy on probabilities (torch clamps the logs at -100)."""
    loss = -(target * jnp.maximum(jnp.log(input), -100.0) + (1.0 - target) * jnp.maximum(jnp.log1p(-input), -100.0))
    if weight is not None:
        loss = loss * weight
    return loss_reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """F.binary_cross_entropy_with_logits (``pos_weight`` weighs the positive term)."""
    log_weight = 1.0 if pos_weight is None else (pos_weight - 1.0) * target + 1.0
    loss = (1.0 - target) * input + log_weight * jax.nn.softplus(-input)
    if weight is not None:
        loss = loss * weight
    return loss_reduce(loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """F.kl_div: ``input`` holds log-probabilities; 'batchmean' divides the sum by the batch size."""
    if log_target:
        loss = jnp.exp(target) * (target - input)
    else:
        loss = jax.scipy.special.xlogy(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return loss_reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """F.cosine_embedding_loss (torch's 1e-12 added to each squared norm)."""
    prod = (input1 * input2).sum(-1)
    mag1 = (input1 * input1).sum(-1) + 1e-12
    mag2 = (input2 * input2).sum(-1) + 1e-12
    cos = prod / jnp.sqrt(mag1 * mag2)
    zeros = jnp.zeros_like(cos)
    loss = jnp.where(target == 1, 1.0 - cos, zeros) + jnp.where(target == -1, jnp.maximum(cos - margin, 0.0), zeros)
    return loss_reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """F.margin_ranking_loss."""
    return loss_reduce(jnp.maximum(-target * (input1 - input2) + margin, 0.0), reduction)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """F.ctc_loss through optax.ctc_loss: log-probabilities (T, N, C) or (T, C),
    padded (N, S) targets (or torch's concatenated 1-D targets, whose lengths
    must then be known: not under jit). 'mean' divides each loss by its target
    length, as torch does. An impossible alignment costs about 1e5 per step
    here (optax's log epsilon) where torch gives inf: ``zero_infinity`` zeroes
    losses over 1e4 per step."""
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs, targets = log_probs[:, None], jnp.reshape(targets, (1, -1))
        input_lengths, target_lengths = jnp.reshape(input_lengths, (1,)), jnp.reshape(target_lengths, (1,))
    n = log_probs.shape[1]
    input_lengths = jnp.broadcast_to(jnp.asarray(input_lengths), (n,))
    target_lengths = jnp.broadcast_to(jnp.asarray(target_lengths), (n,))
    if targets.ndim == 1:  # concatenated: cut by the (concrete) lengths and pad
        lengths = np.asarray(target_lengths)
        ends = np.cumsum(lengths)
        width = max(int(lengths.max()), 1)
        targets = jnp.stack([jnp.pad(targets[e - l:e], (0, width - l)) for e, l in zip(ends, lengths)])
    logits = jnp.moveaxis(log_probs, 0, 1)
    t, s = logits.shape[1], targets.shape[1]
    logit_pad = (jnp.arange(t)[None] >= input_lengths[:, None]).astype(logits.dtype)
    label_pad = (jnp.arange(s)[None] >= target_lengths[:, None]).astype(logits.dtype)
    loss = optax.ctc_loss(logits, logit_pad, targets.astype(jnp.int32), label_pad, blank_id=blank)
    if zero_infinity:
        loss = jnp.where(loss > 1e4 * jnp.maximum(input_lengths, 1), 0.0, loss)
    if reduction == "mean":
        return jnp.mean(loss / jnp.maximum(target_lengths, 1).astype(loss.dtype))
    return loss_reduce(loss[0] if unbatched else loss, reduction)


# Training steps (translator/train_steps.py): torch.nn.utils' gradient clipping
# on the gradients nnx.value_and_grad returns.


def grads_norm(grads, max_norm=None, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The total norm torch's clip_grad_norm_ returns (of all gradients together)."""
    leaves = [jnp.asarray(g) for g in jax.tree.leaves(grads)]
    if norm_type == float("inf"):
        return jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in leaves]))
    return jnp.sum(jnp.stack([jnp.sum(jnp.abs(g) ** norm_type) for g in leaves])) ** (1.0 / norm_type)


def grads_clip_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """torch.nn.utils.clip_grad_norm_: every gradient times max_norm / (total + 1e-6), at most 1."""
    coef = jnp.minimum(max_norm / (grads_norm(grads, max_norm, norm_type) + 1e-6), 1.0)
    return jax.tree.map(lambda g: g * coef, grads)


def grads_clip_value(grads, clip_value, foreach=None):
    """torch.nn.utils.clip_grad_value_."""
    return jax.tree.map(lambda g: jnp.clip(g, -clip_value, clip_value), grads)


def grads_add(grads, more):
    """Gradient accumulation: torch's ``backward()`` adds to ``.grad`` until
    ``zero_grad()`` (None: nothing accumulated yet)."""
    return more if grads is None else jax.tree.map(lambda a, b: a + b, grads, more)
