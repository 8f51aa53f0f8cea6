"""torch.optim optimizers and learning-rate schedulers, copied into translated
files like helpers.py (each definition depends on jax, jnp, np, nnx, optax,
math and the other definitions here that it names).

Optimizers: ``torch_sgd(lr=..., momentum=...)`` and its siblings return an
optax transformation that applies torch's own update rule, step for step (its
weight decay, its first momentum step, its bias corrections), wrapped in
``optax.inject_hyperparams`` so the learning rate (and momentum / betas /
weight decay) live in the optimizer state where schedulers set them:
``optimizer.opt_state.hyperparams['learning_rate']``. ``TorchOptimizer`` is
``nnx.Optimizer`` with torch's ``param_groups`` on top (``opt.param_groups[0]
["lr"]`` reads and writes the injected value).

Schedulers: ports of torch.optim.lr_scheduler's classes (same formulas, the
same chainable updates on Python floats), stepping the optimizer's
``param_groups``: ``scheduler.step()`` means what it means in torch, wherever
the code calls it (per epoch or per batch), and ``get_last_lr()`` works.
"""

import math
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx


# ---------------------------------------------------------------------------
# Optimizers: torch's update rules as optax transformations.


def torch_update_rule(init_slots, update_leaf):
    """An optax transformation from a per-parameter torch update:
    ``init_slots(p)`` gives the parameter's state (a tuple of arrays),
    ``update_leaf(g, slots, p, t)`` (t: the 1-based step) gives the parameter's
    update (what is added to it) and its new state. The state is one tree per
    slot (exp_avg, exp_avg_sq, ...), like optax's own."""

    def init(params):
        leaves = jax.tree.leaves(params)
        n = len(init_slots(leaves[0])) if leaves else 0
        return (jnp.zeros([], jnp.int32),) + tuple(
            jax.tree.map(lambda p, i=i: init_slots(p)[i], params) for i in range(n))

    def update(grads, state, params=None):
        if params is None:
            raise ValueError("torch's optimizers need the parameters (weight decay)")
        count, slots = state[0], state[1:]
        t = count + 1
        out = jax.tree.map(lambda g, p, *s: update_leaf(g, s, p, t), grads, params, *slots)
        updates = jax.tree.map(lambda g, o: o[0], grads, out)
        new_slots = tuple(jax.tree.map(lambda g, o, i=i: o[1][i], grads, out) for i in range(len(slots)))
        return updates, (t,) + new_slots

    return optax.GradientTransformation(init, update)


def torch_sgd_rule(learning_rate, momentum, dampening, weight_decay, nesterov, maximize, use_momentum):
    """torch.optim.SGD: the first momentum step takes the gradient as the buffer."""

    def init_slots(p):
        return (jnp.zeros_like(p),) if use_momentum else ()

    def update_leaf(g, slots, p, t):
        g = -g if maximize else g
        g = g + weight_decay * p
        if not use_momentum:
            return -learning_rate * g, slots
        (buf,) = slots
        buf = jnp.where(t == 1, g, momentum * buf + (1 - dampening) * g)
        d = g + momentum * buf if nesterov else buf
        return -learning_rate * d, (buf,)

    return torch_update_rule(init_slots, update_leaf)


def torch_adam_rule(learning_rate, b1, b2, eps, weight_decay, amsgrad, maximize, decoupled):
    """torch.optim.Adam (coupled L2 weight decay) and AdamW (decoupled)."""

    def init_slots(p):
        z = jnp.zeros_like(p)
        return (z, z, z) if amsgrad else (z, z)

    def update_leaf(g, slots, p, t):
        g = -g if maximize else g
        if decoupled:
            p_decayed = p * (1 - learning_rate * weight_decay)
        else:
            g = g + weight_decay * p
            p_decayed = p
        m = b1 * slots[0] + (1 - b1) * g
        v = b2 * slots[1] + (1 - b2) * g * g
        tf = t.astype(jnp.float32)
        bc1 = 1 - b1**tf
        bc2_sqrt = jnp.sqrt(1 - b2**tf)
        if amsgrad:
            vmax = jnp.maximum(slots[2], v)
            denom = jnp.sqrt(vmax) / bc2_sqrt + eps
            new = (m, v, vmax)
        else:
            denom = jnp.sqrt(v) / bc2_sqrt + eps
            new = (m, v)
        p_new = p_decayed - (learning_rate / bc1) * m / denom
        return p_new - p, new

    return torch_update_rule(init_slots, update_leaf)


def torch_rmsprop_rule(learning_rate, alpha, eps, weight_decay, momentum, centered, maximize, use_momentum):
    """torch.optim.RMSprop."""

    def init_slots(p):
        z = jnp.zeros_like(p)
        return (z, z, z)  # square_avg, grad_avg (centered), momentum buffer

    def update_leaf(g, slots, p, t):
        g = -g if maximize else g
        g = g + weight_decay * p
        sq, ga, buf = slots
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            ga = ga + (1 - alpha) * (g - ga)
            avg = jnp.sqrt(sq - ga * ga) + eps
        else:
            avg = jnp.sqrt(sq) + eps
        if use_momentum:
            buf = momentum * buf + g / avg
            return -learning_rate * buf, (sq, ga, buf)
        return -learning_rate * g / avg, (sq, ga, buf)

    return torch_update_rule(init_slots, update_leaf)


def torch_adagrad_rule(learning_rate, lr_decay, weight_decay, initial_accumulator_value, eps, maximize):
    """torch.optim.Adagrad."""

    def init_slots(p):
        return (jnp.full_like(p, initial_accumulator_value),)

    def update_leaf(g, slots, p, t):
        g = -g if maximize else g
        g = g + weight_decay * p
        clr = learning_rate / (1 + (t - 1).astype(jnp.float32) * lr_decay)
        s = slots[0] + g * g
        return -clr * g / (jnp.sqrt(s) + eps), (s,)

    return torch_update_rule(init_slots, update_leaf)


def torch_adamax_rule(learning_rate, b1, b2, eps, weight_decay, maximize):
    """torch.optim.Adamax."""

    def init_slots(p):
        z = jnp.zeros_like(p)
        return (z, z)

    def update_leaf(g, slots, p, t):
        g = -g if maximize else g
        g = g + weight_decay * p
        m = slots[0] + (1 - b1) * (g - slots[0])
        u = jnp.maximum(b2 * slots[1], jnp.abs(g) + eps)
        clr = learning_rate / (1 - b1 ** t.astype(jnp.float32))
        return -clr * m / u, (m, u)

    return torch_update_rule(init_slots, update_leaf)


def torch_nadam_rule(learning_rate, b1, b2, eps, weight_decay, momentum_decay, decoupled, maximize):
    """torch.optim.NAdam (its momentum schedule mu_t and running product)."""

    def init_slots(p):
        z = jnp.zeros_like(p)
        return (z, z, jnp.ones([], p.dtype))

    def update_leaf(g, slots, p, t):
        g = -g if maximize else g
        if decoupled:
            p_start = p * (1 - learning_rate * weight_decay)
        else:
            g = g + weight_decay * p
            p_start = p
        m, v, mu_product = slots
        tf = t.astype(jnp.float32)
        bc2 = 1 - b2**tf
        mu = b1 * (1.0 - 0.5 * 0.96 ** (tf * momentum_decay))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((tf + 1) * momentum_decay))
        mu_product = mu_product * mu
        m = m + (1 - b1) * (g - m)
        v = b2 * v + (1 - b2) * g * g
        denom = jnp.sqrt(v / bc2) + eps
        p_new = p_start - learning_rate * (1 - mu) / (1 - mu_product) * g / denom
        p_new = p_new - learning_rate * mu_next / (1 - mu_product * mu_next) * m / denom
        return p_new - p, (m, v, mu_product)

    return torch_update_rule(init_slots, update_leaf)


def torch_radam_rule(learning_rate, b1, b2, eps, weight_decay, decoupled, maximize):
    """torch.optim.RAdam: the rectified step where the variance is tractable
    (rho_t > 5), the plain momentum step before."""

    def init_slots(p):
        z = jnp.zeros_like(p)
        return (z, z)

    def update_leaf(g, slots, p, t):
        g = -g if maximize else g
        if decoupled:
            p_start = p * (1 - learning_rate * weight_decay)
        else:
            g = g + weight_decay * p
            p_start = p
        m = slots[0] + (1 - b1) * (g - slots[0])
        v = b2 * slots[1] + (1 - b2) * g * g
        tf = t.astype(jnp.float32)
        bc1 = 1 - b1**tf
        bc2 = 1 - b2**tf
        m_hat = m / bc1
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * tf * (b2**tf) / bc2
        safe = jnp.maximum(rho_t, 5.0 + 1e-3)
        rect = jnp.sqrt((safe - 4) * (safe - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe))
        adaptive = jnp.sqrt(bc2) / (jnp.sqrt(v) + eps)
        step = jnp.where(rho_t > 5.0, m_hat * learning_rate * adaptive * rect, m_hat * learning_rate)
        return p_start - step - p, (m, v)

    return torch_update_rule(init_slots, update_leaf)


def torch_betas(betas):
    b1, b2 = betas
    return float(b1), float(b2)


def torch_sgd(params=None, lr=0.001, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
              foreach=None, differentiable=False, fused=None):
    """torch.optim.SGD's update rule (``params`` is taken by nnx.Optimizer)."""
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    return optax.inject_hyperparams(torch_sgd_rule, static_args=("nesterov", "maximize", "use_momentum"))(
        learning_rate=float(lr), momentum=float(momentum), dampening=float(dampening),
        weight_decay=float(weight_decay), nesterov=bool(nesterov), maximize=bool(maximize),
        use_momentum=momentum != 0)


def torch_adam(params=None, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, amsgrad=False, *,
               foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
               decoupled_weight_decay=False):
    """torch.optim.Adam's update rule: weight decay added to the gradient (L2)."""
    b1, b2 = torch_betas(betas)
    return optax.inject_hyperparams(torch_adam_rule, static_args=("amsgrad", "maximize", "decoupled"))(
        learning_rate=float(lr), b1=b1, b2=b2, eps=float(eps), weight_decay=float(weight_decay),
        amsgrad=bool(amsgrad), maximize=bool(maximize), decoupled=bool(decoupled_weight_decay))


def torch_adamw(params=None, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, amsgrad=False, *,
                maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
    """torch.optim.AdamW's update rule: decoupled weight decay, torch's default 0.01."""
    b1, b2 = torch_betas(betas)
    return optax.inject_hyperparams(torch_adam_rule, static_args=("amsgrad", "maximize", "decoupled"))(
        learning_rate=float(lr), b1=b1, b2=b2, eps=float(eps), weight_decay=float(weight_decay),
        amsgrad=bool(amsgrad), maximize=bool(maximize), decoupled=True)


def torch_rmsprop(params=None, lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0, momentum=0, centered=False,
                  capturable=False, foreach=None, maximize=False, differentiable=False):
    """torch.optim.RMSprop's update rule."""
    return optax.inject_hyperparams(torch_rmsprop_rule, static_args=("centered", "maximize", "use_momentum"))(
        learning_rate=float(lr), alpha=float(alpha), eps=float(eps), weight_decay=float(weight_decay),
        momentum=float(momentum), centered=bool(centered), maximize=bool(maximize), use_momentum=momentum > 0)


def torch_adagrad(params=None, lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                  foreach=None, *, maximize=False, differentiable=False, fused=None):
    """torch.optim.Adagrad's update rule."""
    return optax.inject_hyperparams(torch_adagrad_rule, static_args=("maximize",))(
        learning_rate=float(lr), lr_decay=float(lr_decay), weight_decay=float(weight_decay),
        initial_accumulator_value=float(initial_accumulator_value), eps=float(eps), maximize=bool(maximize))


def torch_adamax(params=None, lr=0.002, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
    """torch.optim.Adamax's update rule."""
    b1, b2 = torch_betas(betas)
    return optax.inject_hyperparams(torch_adamax_rule, static_args=("maximize",))(
        learning_rate=float(lr), b1=b1, b2=b2, eps=float(eps), weight_decay=float(weight_decay),
        maximize=bool(maximize))


def torch_nadam(params=None, lr=0.002, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, momentum_decay=0.004,
                decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                differentiable=False):
    """torch.optim.NAdam's update rule."""
    b1, b2 = torch_betas(betas)
    return optax.inject_hyperparams(torch_nadam_rule, static_args=("decoupled", "maximize"))(
        learning_rate=float(lr), b1=b1, b2=b2, eps=float(eps), weight_decay=float(weight_decay),
        momentum_decay=float(momentum_decay), decoupled=bool(decoupled_weight_decay), maximize=bool(maximize))


def torch_radam(params=None, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, decoupled_weight_decay=False,
                *, foreach=None, maximize=False, capturable=False, differentiable=False):
    """torch.optim.RAdam's update rule."""
    b1, b2 = torch_betas(betas)
    return optax.inject_hyperparams(torch_radam_rule, static_args=("decoupled", "maximize"))(
        learning_rate=float(lr), b1=b1, b2=b2, eps=float(eps), weight_decay=float(weight_decay),
        decoupled=bool(decoupled_weight_decay), maximize=bool(maximize))


# ---------------------------------------------------------------------------
# param_groups: torch's view of the hyperparameters.


def optimizer_hyperparams(opt_state):
    """The ``hyperparams`` dicts of the injected transformations in an
    optimizer state, one per torch parameter group, in order."""
    found = []

    def visit(node):
        if hasattr(node, "hyperparams") and hasattr(node, "inner_state"):  # optax.inject_hyperparams
            found.append(node.hyperparams)
        elif isinstance(node, dict):
            for k in sorted(node, key=str):
                visit(node[k])
        elif isinstance(node, (tuple, list)):
            for item in node:
                visit(item)
        elif hasattr(node, "_fields"):
            for item in node:
                visit(item)
        elif hasattr(node, "inner_state"):
            visit(node.inner_state)

    visit(opt_state)
    return found


class TorchParamGroup:
    """One of torch's ``optimizer.param_groups``: ``lr``, ``momentum``,
    ``betas``, ``weight_decay`` read and write the injected hyperparameters
    in the optimizer state; other keys (``initial_lr`` that schedulers add)
    are kept beside them. Values keep the Python float torch would hold while
    the state holds that value (in float32)."""

    # optimizer -> {(group, key): Python value}: kept outside the optimizer,
    # whose attributes would otherwise become jit-static; weakly keyed so a
    # new optimizer that reuses a dead one's id() never reads its values
    _kept = weakref.WeakKeyDictionary()
    _names = {"lr": "learning_rate", "momentum": "momentum", "weight_decay": "weight_decay", "eps": "eps",
              "alpha": "alpha", "lr_decay": "lr_decay", "dampening": "dampening",
              "momentum_decay": "momentum_decay"}

    def __init__(self, optimizer, index):
        self.optimizer = optimizer
        self.index = index

    def _hyper(self):
        return optimizer_hyperparams(self.optimizer.opt_state)[self.index]

    def _floats(self):
        return TorchParamGroup._kept.setdefault(self.optimizer, {})

    def _key(self, key):
        return (self.index, key)

    def _read(self, name, key):
        var = self._hyper()[name]
        value = float(np.asarray(var[...] if isinstance(var, nnx.Variable) else var))
        kept = self._floats().get(self._key(key))
        if kept is not None and np.float32(kept) == np.float32(value):
            return kept
        # the shortest decimal that is this float32 (0.01, not 0.009999999776)
        return float(str(np.float32(value)))

    def _write(self, name, key, value):
        hyper = self._hyper()
        var = hyper[name]
        if isinstance(var, nnx.Variable):
            var[...] = jnp.asarray(value, dtype=var[...].dtype)
        else:
            hyper[name] = jnp.asarray(value, dtype=jnp.asarray(var).dtype)
        self._floats()[self._key(key)] = float(value)

    def keys(self):
        hyper = self._hyper()
        names = [k for k, n in TorchParamGroup._names.items() if n in hyper]
        if "b1" in hyper:
            names.append("betas")
        extra = [k[1] for k in self._floats() if k[0] == self.index
                 and k[1] not in names and k[1] not in TorchParamGroup._names and k[1] != "betas"]
        return names + sorted(set(extra))

    def __contains__(self, key):
        return key in self.keys()

    def __getitem__(self, key):
        hyper = self._hyper()
        if key == "betas" and "b1" in hyper:
            return (self._read("b1", "beta1"), self._read("b2", "beta2"))
        if key in TorchParamGroup._names and TorchParamGroup._names[key] in hyper:
            return self._read(TorchParamGroup._names[key], key)
        kept = self._floats()
        if self._key(key) in kept:
            return kept[self._key(key)]
        raise KeyError(key)

    def __setitem__(self, key, value):
        hyper = self._hyper()
        if key == "betas" and "b1" in hyper:
            self._write("b1", "beta1", value[0])
            self._write("b2", "beta2", value[1])
        elif key in TorchParamGroup._names and TorchParamGroup._names[key] in hyper:
            self._write(TorchParamGroup._names[key], key, value)
        elif key in ("params", "nesterov", "amsgrad", "maximize", "centered", "foreach", "capturable",
                     "differentiable", "fused", "decoupled_weight_decay"):
            raise KeyError(f"param_groups[{self.index}][{key!r}] is fixed when the optimizer is built")
        else:
            self._floats()[self._key(key)] = value

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def __repr__(self):
        return repr(dict(self.items()))


def optimizer_param_groups(optimizer):
    """torch's ``optimizer.param_groups`` of an nnx.Optimizer built from
    injected hyperparameters (the torch_* transformations)."""
    return [TorchParamGroup(optimizer, i) for i in range(len(optimizer_hyperparams(optimizer.opt_state)))]


class TorchOptimizerState:
    """torch's ``optimizer.state_dict()`` / ``load_state_dict(sd)``: the optimizer's
    own state (its step count, moments, the injected hyperparameters: learning
    rate and the like) as a nested dict of arrays, and back. As in torch the
    parameters are not in it. Unlike torch's, the dict is a snapshot: later
    steps do not change it (torch's holds the live state tensors)."""

    def state_dict(self):
        return nnx.to_pure_dict(nnx.state(self, nnx.OptState))

    def load_state_dict(self, state_dict):
        state = nnx.state(self, nnx.OptState)
        nnx.replace_by_pure_dict(state, state_dict)
        nnx.update(self, state)


class TorchOptimizer(TorchOptimizerState, nnx.Optimizer):
    """nnx.Optimizer with torch's ``param_groups`` (``opt.param_groups[0]["lr"]``)
    and ``state_dict`` (TorchOptimizerState)."""

    def __init__(self, model, tx, *, wrt=nnx.Param, **kwargs):
        super().__init__(model, tx, wrt=wrt, **kwargs)

    @property
    def param_groups(self):
        return optimizer_param_groups(self)


# ---------------------------------------------------------------------------
# Learning-rate schedulers: torch.optim.lr_scheduler's formulas.


class TorchLRScheduler:
    """torch.optim.lr_scheduler.LRScheduler over an optimizer's param_groups."""

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        groups = optimizer_param_groups(optimizer)
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in groups]
        self.last_epoch = last_epoch
        self._is_initial = False
        self._initial_step()

    @property
    def param_groups(self):
        return optimizer_param_groups(self.optimizer)

    def _initial_step(self):
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_last_lr(self):
        return self._last_lr

    def get_lr(self):
        raise NotImplementedError

    def step(self, epoch=None):
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self._get_closed_form_lr() if hasattr(self, "_get_closed_form_lr") else self.get_lr()
        groups = self.param_groups
        for group, lr in zip(groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


def torch_lr_values(scheduler):
    return [group["lr"] for group in scheduler.param_groups]


class TorchLambdaLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.LambdaLR."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer_param_groups(optimizer))
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * lmbda(self.last_epoch) for lmbda, base_lr in zip(self.lr_lambdas, self.base_lrs)]


class TorchMultiplicativeLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.MultiplicativeLR."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer_param_groups(optimizer))
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return torch_lr_values(self)
        return [group["lr"] * lmbda(self.last_epoch) for lmbda, group in zip(self.lr_lambdas, self.param_groups)]


class TorchStepLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.StepLR."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return torch_lr_values(self)
        return [group["lr"] * self.gamma for group in self.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class TorchMultiStepLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.MultiStepLR."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = {}
        for m in milestones:
            self.milestones[m] = self.milestones.get(m, 0) + 1
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return torch_lr_values(self)
        return [group["lr"] * self.gamma ** self.milestones[self.last_epoch] for group in self.param_groups]

    def _get_closed_form_lr(self):
        passed = sum(c for m, c in self.milestones.items() if m <= self.last_epoch)
        return [base_lr * self.gamma**passed for base_lr in self.base_lrs]


class TorchConstantLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.ConstantLR."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in self.param_groups]
        if self.last_epoch != self.total_iters:
            return torch_lr_values(self)
        return [group["lr"] * (1.0 / self.factor) for group in self.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]


class TorchLinearLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.LinearLR."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return torch_lr_values(self)
        return [group["lr"] * (1.0 + (self.end_factor - self.start_factor) / (
            self.total_iters * self.start_factor + (self.last_epoch - 1) * (self.end_factor - self.start_factor)))
            for group in self.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class TorchExponentialLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.ExponentialLR."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return torch_lr_values(self)
        return [group["lr"] * self.gamma for group in self.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class TorchPolynomialLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.PolynomialLR."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial or self.last_epoch > self.total_iters:
            return torch_lr_values(self)
        decay = ((1.0 - self.last_epoch / self.total_iters)
                 / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [group["lr"] * decay for group in self.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
                for base_lr in self.base_lrs]


class TorchCosineAnnealingLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.CosineAnnealingLR (its chainable form)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return torch_lr_values(self)
        if self._step_count == 1 and self.last_epoch > 0:
            return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(self.last_epoch * math.pi / self.T_max)) / 2
                    for base_lr in self.base_lrs]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [group["lr"] + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base_lr, group in zip(self.base_lrs, self.param_groups)]
        return [(1 + math.cos(math.pi * self.last_epoch / self.T_max))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
                * (group["lr"] - self.eta_min) + self.eta_min for group in self.param_groups]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class TorchCosineAnnealingWarmRestarts(TorchLRScheduler):
    """torch.optim.lr_scheduler.CosineAnnealingWarmRestarts."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base_lr in self.base_lrs]

    def step(self, epoch=None):
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        elif epoch >= self.T_0:
            if self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:
                n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
                self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                self.T_i = self.T_0 * self.T_mult ** (n)
        else:
            self.T_i = self.T_0
            self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        groups = self.param_groups
        for group, lr in zip(groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]


class TorchOneCycleLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.OneCycleLR (momentum / beta1 cycled too)."""

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1):
        groups = optimizer_param_groups(optimizer)
        n = len(groups)
        if total_steps is not None:
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if three_phase:
            self._schedule_phases = [
                (float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self._schedule_phases = [
                (float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self.anneal_strategy = anneal_strategy
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * n
        if last_epoch == -1:
            for idx, group in enumerate(groups):
                group["initial_lr"] = max_lrs[idx] / div_factor
                group["max_lr"] = max_lrs[idx]
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in groups[0] and "betas" not in groups[0]:
                raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            self.use_beta1 = "betas" in groups[0]
            maxm = list(max_momentum) if isinstance(max_momentum, (list, tuple)) else [max_momentum] * n
            basem = list(base_momentum) if isinstance(base_momentum, (list, tuple)) else [base_momentum] * n
            if last_epoch == -1:
                for m_momentum, b_momentum, group in zip(maxm, basem, groups):
                    if self.use_beta1:
                        group["betas"] = (m_momentum, *group["betas"][1:])
                    else:
                        group["momentum"] = m_momentum
                    group["max_momentum"] = m_momentum
                    group["base_momentum"] = b_momentum
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        lrs = []
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"Tried to step {step_num} times. The specified number of total steps is "
                             f"{self.total_steps}")
        for group in self.param_groups:
            start_step = 0.0
            for i, (end_step, start_lr, end_lr, start_m, end_m) in enumerate(self._schedule_phases):
                if step_num <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    computed_lr = self._anneal(group[start_lr], group[end_lr], pct)
                    if self.cycle_momentum:
                        computed_momentum = self._anneal(group[start_m], group[end_m], pct)
                    break
                start_step = end_step
            lrs.append(computed_lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (computed_momentum, *group["betas"][1:])
                else:
                    group["momentum"] = computed_momentum
        return lrs


class TorchSequentialLR(TorchLRScheduler):
    """torch.optim.lr_scheduler.SequentialLR."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(milestones) != len(schedulers) - 1:
            raise ValueError("Sequential Schedulers expects number of schedulers provided to be one more than the "
                             "number of milestone points")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in self.param_groups:
            group["lr"] = group["initial_lr"]
        self.recursive_undo()
        idx = sum(1 for m in self._milestones if m <= 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def recursive_undo(self, sched=None):
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def step(self):
        self.last_epoch += 1
        idx = sum(1 for m in self._milestones if m <= self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class TorchChainedScheduler(TorchLRScheduler):
    """torch.optim.lr_scheduler.ChainedScheduler."""

    def __init__(self, schedulers, optimizer=None):
        self._schedulers = list(schedulers)
        self.optimizer = optimizer or self._schedulers[0].optimizer
        self._last_lr = torch_lr_values(self)

    def step(self):
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = torch_lr_values(self)


class TorchReduceLROnPlateau(TorchLRScheduler):
    """torch.optim.lr_scheduler.ReduceLROnPlateau: ``step(metric)`` with the
    metric as a Python number or a JAX scalar (read on the host)."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.factor = factor
        self.optimizer = optimizer
        n = len(self.param_groups)
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = torch_lr_values(self)
        if mode not in ("min", "max"):
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self._reset()

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def step(self, metrics, epoch=None):
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for i, group in enumerate(self.param_groups):
                old_lr = float(group["lr"])
                new_lr = max(old_lr * self.factor, self.min_lrs[i])
                if old_lr - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = torch_lr_values(self)
