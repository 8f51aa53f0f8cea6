"""torch.optim: optimizers and learning-rate schedulers (issue 16).

An optimizer over a model's parameters becomes ``nnx.Optimizer`` (its
``TorchOptimizer`` subclass, which adds torch's ``param_groups``) over the
model, with an optax transformation that applies torch's own update rule
(runtime/optim.py: ``torch_adamw(lr=..., weight_decay=...)``, torch's
argument names and defaults, the learning rate injected so schedulers set
it)::

    torch.optim.AdamW(model.parameters(), lr=1e-3)
    -> TorchOptimizer(model, torch_adamw(lr=1e-3), wrt=nnx.Param)

A scheduler becomes the runtime port of torch's class over that optimizer,
with the same arguments; its ``step()`` (per epoch or per batch, wherever the
code calls it) sets the learning rate torch's would, ``get_last_lr()`` and
``optimizer.param_groups[0]["lr"]`` read it.

Examples (``where="optimizer"`` / ``"scheduler"``) are checked by training:
the optimizer's steps against torch's, the scheduler's learning rates against
torch's (tests/training_parity.py).
"""

from __future__ import annotations

import re
from typing import Optional

from .base import OTHER, Example, Rule

# the model whose parameters an optimizer gets: ``model.parameters()``, as the
# Module-API rewrite leaves it (``module_parameters(model)``) or not
_PARAMS = re.compile(r"^(?:_t2n_)?module_parameters\((?P<a>[^(),]+)\)$|^(?P<b>[\w.]+)\.parameters\(\)$")
# the trainable ones: frozen parameters are FrozenParam, which wrt=nnx.Param leaves out anyway
_GRAD = r"(?:_t2n_)?module_requires_grad\((?P<v2>\w+)\)"
_TRAINABLE = (
    re.compile(rf"^filter\(\s*lambda\s+(?P<v>\w+)\s*:\s*{_GRAD}\s*,\s*(?P<p>.+)\)$", re.S),
    re.compile(rf"^[\[(]\s*(?P<v>\w+)\s+for\s+(?P<v1>\w+)\s+in\s+(?P<p>.+?)\s+if\s+{_GRAD}\s*[\])]$", re.S),
)


def _model_of(params: str) -> Optional[str]:
    """The model whose parameters ``params`` lists (all of them, or its trainable
    ones), or None (parameter groups, hand-picked lists)."""
    for pattern in _TRAINABLE:
        t = pattern.match(params.strip())
        if t and t.group("v") == t.group("v2") and t.group("v") == (t.groupdict().get("v1") or t.group("v")):
            params = t.group("p")
            break
    m = _PARAMS.match(params.strip())
    return (m.group("a") or m.group("b")).strip() if m else None


def _keywords(a, skip=()) -> list[str]:
    return [f"{n}={a.src(n)}" for n, _, k in a.spec if k in ("pos", "kwonly") and n not in skip and a.given(n)]


def optimizer(helper: str):
    """``torch.optim.X(model.parameters(), ...)`` -> ``TorchOptimizer(model, helper(...), wrt=nnx.Param)``."""

    def build(a, ctx):
        model = _model_of(a.src("params"))
        if model is None:
            # parameter groups with their own options, or a list of some parameters:
            # the optimizer holds those (runtime/param_groups.py)
            rest = ", ".join([a.src("params"), ctx.helper(helper)] + _keywords(a, skip=("params",)))
            return f"{ctx.helper('torch_optimizer')}({rest})"
        tx = f"{ctx.helper(helper)}({', '.join(_keywords(a, skip=('params',)))})"
        return f"{ctx.helper('TorchOptimizer')}({model}, {tx}, wrt=nnx.Param)"

    return build


def scheduler(helper: str, first: str = "optimizer"):
    """A scheduler: the runtime class with the same arguments (``first`` positional)."""

    def build(a, ctx):
        parts = [a.src(first)] + _keywords(a, skip=(first,))
        return f"{ctx.helper(helper)}({', '.join(parts)})"

    return build


def opt_row(name, params, helper, examples, note=""):
    return Rule(f"torch.optim.{name}", "params, " + params, optimizer(helper), layout=OTHER,
                examples=examples, note=note)


def sched_row(name, params, helper, examples, note="", first="optimizer"):
    return Rule(f"torch.optim.lr_scheduler.{name}", params, scheduler(helper, first), layout=OTHER,
                examples=examples, note=note)


def opt(src: str, rtol: float = 1e-3) -> Example:
    return Example(src, (), where="optimizer", atol=rtol)


def sched(src: str) -> Example:
    return Example(src, (), where="scheduler")


P = "model.parameters()"

RULES = [
    opt_row("SGD", "lr=0.001, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False, "
                   "foreach=None, differentiable=False, fused=None", "torch_sgd",
            (opt(f"torch.optim.SGD({P}, lr=0.1)", 1e-4),
             opt(f"torch.optim.SGD({P}, 0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)", 1e-4),
             opt(f"torch.optim.SGD({P}, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)", 1e-4),
             opt(f"torch.optim.SGD(filter(lambda p: p.requires_grad, {P}), lr=0.1)", 1e-4),
             opt(f"torch.optim.SGD([p for p in {P} if p.requires_grad], lr=0.1)", 1e-4)),
            note="torch's momentum (the first step takes the gradient), dampening, nesterov, L2 weight decay"),
    opt_row("Adam", "lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, amsgrad=False, *, foreach=None, "
                    "maximize=False, capturable=False, differentiable=False, fused=None, "
                    "decoupled_weight_decay=False", "torch_adam",
            (opt(f"torch.optim.Adam({P}, lr=0.01)"),
             opt(f"torch.optim.Adam({P}, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)")),
            note="weight decay added to the gradient (L2), torch's amsgrad (maximum of the raw second moment)"),
    opt_row("AdamW", "lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, amsgrad=False, *, "
                     "maximize=False, foreach=None, capturable=False, differentiable=False, fused=None",
            "torch_adamw",
            (opt(f"torch.optim.AdamW({P}, lr=0.02)"),
             opt(f"torch.optim.AdamW({P}, lr=0.02, weight_decay=0.3, amsgrad=True)")),
            note="decoupled weight decay; torch's default 0.01 (optax's adamw has 1e-4)"),
    opt_row("RMSprop", "lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0, momentum=0, centered=False, "
                       "capturable=False, foreach=None, maximize=False, differentiable=False", "torch_rmsprop",
            (opt(f"torch.optim.RMSprop({P}, lr=0.01)"),
             opt(f"torch.optim.RMSprop({P}, lr=0.005, momentum=0.9, centered=True, weight_decay=0.01)")),
            note="eps outside the square root, as torch"),
    opt_row("Adagrad", "lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, "
                       "foreach=None, *, maximize=False, differentiable=False, fused=None", "torch_adagrad",
            (opt(f"torch.optim.Adagrad({P}, lr=0.1)"),
             opt(f"torch.optim.Adagrad({P}, lr=0.1, lr_decay=0.05, initial_accumulator_value=0.1)"))),
    opt_row("Adamax", "lr=0.002, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, foreach=None, *, maximize=False, "
                      "differentiable=False, capturable=False", "torch_adamax",
            (opt(f"torch.optim.Adamax({P}, lr=0.02, weight_decay=0.05)"),)),
    opt_row("NAdam", "lr=0.002, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, momentum_decay=0.004, "
                     "decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False, "
                     "differentiable=False", "torch_nadam",
            (opt(f"torch.optim.NAdam({P}, lr=0.01)"),
             opt(f"torch.optim.NAdam({P}, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)")),
            note="torch's momentum schedule (momentum_decay)"),
    opt_row("RAdam", "lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, decoupled_weight_decay=False, *, "
                     "foreach=None, maximize=False, capturable=False, differentiable=False", "torch_radam",
            (opt(f"torch.optim.RAdam({P}, lr=0.01, weight_decay=0.1)"),),
            note="the rectified step once the variance is tractable (rho_t > 5), as torch"),
    # schedulers: the example's ``optimizer`` is torch.optim.SGD(lr=0.1, momentum=0.9) and its translation
    sched_row("StepLR", "optimizer, step_size, gamma=0.1, last_epoch=-1", "TorchStepLR",
              (sched("torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)"),)),
    sched_row("MultiStepLR", "optimizer, milestones, gamma=0.1, last_epoch=-1", "TorchMultiStepLR",
              (sched("torch.optim.lr_scheduler.MultiStepLR(optimizer, [2, 5, 9], 0.3)"),)),
    sched_row("ExponentialLR", "optimizer, gamma, last_epoch=-1", "TorchExponentialLR",
              (sched("torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)"),)),
    sched_row("CosineAnnealingLR", "optimizer, T_max, eta_min=0.0, last_epoch=-1", "TorchCosineAnnealingLR",
              (sched("torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=7, eta_min=1e-3)"),)),
    sched_row("CosineAnnealingWarmRestarts", "optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1",
              "TorchCosineAnnealingWarmRestarts",
              (sched("torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=3, T_mult=2)"),)),
    sched_row("OneCycleLR", "optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, "
                            "pct_start=0.3, anneal_strategy='cos', cycle_momentum=True, base_momentum=0.85, "
                            "max_momentum=0.95, div_factor=25.0, final_div_factor=10000.0, three_phase=False, "
                            "last_epoch=-1", "TorchOneCycleLR",
              (sched("torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.5, total_steps=20)"),
               sched("torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.5, epochs=4, steps_per_epoch=5, "
                     "anneal_strategy='linear', three_phase=True)")),
              note="momentum (or Adam's beta1) cycled too, as torch"),
    sched_row("LinearLR", "optimizer, start_factor=0.3333333333333333, end_factor=1.0, total_iters=5, "
                          "last_epoch=-1", "TorchLinearLR",
              (sched("torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=6)"),)),
    sched_row("ConstantLR", "optimizer, factor=0.3333333333333333, total_iters=5, last_epoch=-1",
              "TorchConstantLR", (sched("torch.optim.lr_scheduler.ConstantLR(optimizer, factor=0.5)"),)),
    sched_row("PolynomialLR", "optimizer, total_iters=5, power=1.0, last_epoch=-1", "TorchPolynomialLR",
              (sched("torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=10, power=2.0)"),)),
    sched_row("LambdaLR", "optimizer, lr_lambda, last_epoch=-1", "TorchLambdaLR",
              (sched("torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: min(1.0, (epoch + 1) / 4))"),),
              note="warm-up idioms: the lambda runs on the host, as in torch"),
    sched_row("MultiplicativeLR", "optimizer, lr_lambda, last_epoch=-1", "TorchMultiplicativeLR",
              (sched("torch.optim.lr_scheduler.MultiplicativeLR(optimizer, lambda epoch: 0.95)"),)),
    sched_row("SequentialLR", "optimizer, schedulers, milestones, last_epoch=-1", "TorchSequentialLR",
              (sched("torch.optim.lr_scheduler.SequentialLR(optimizer, [torch.optim.lr_scheduler.LinearLR("
                     "optimizer, start_factor=0.01, total_iters=4), torch.optim.lr_scheduler.CosineAnnealingLR("
                     "optimizer, T_max=12)], milestones=[4])"),),
              note="warm-up then decay"),
    sched_row("ChainedScheduler", "schedulers, optimizer=None", "TorchChainedScheduler",
              (sched("torch.optim.lr_scheduler.ChainedScheduler([torch.optim.lr_scheduler.ConstantLR(optimizer, "
                     "factor=0.1, total_iters=3), torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)])"),),
              first="schedulers"),
    sched_row("ReduceLROnPlateau", "optimizer, mode='min', factor=0.1, patience=10, threshold=0.0001, "
                                   "threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-08",
              "TorchReduceLROnPlateau",
              (sched("torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=1, factor=0.5, cooldown=1)"),),
              note="step(metric) reads the metric on the host (float()): call it outside jit"),
]
