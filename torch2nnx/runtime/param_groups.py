"""torch optimizers over parameter lists and parameter groups, copied into
translated files like helpers.py (definitions here name optim.py's).

``torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params":
no_decay, "weight_decay": 0.0}], lr=...)`` knows its parameters, not the
model: the lists hold the model's own nnx.Variables (``module_named_parameters``
yields them). ``TorchGroupsOptimizer`` keeps them (the same objects, so
``nnx.jit`` over the model and the optimizer sees them shared) with one torch
update rule per group, built from the group's own options over the
optimizer's defaults; ``update(model, grads)`` finds each held parameter's
gradient by identity, so parameters left out of the optimizer are not
touched, and a frozen one (no gradient, as torch's ``grad is None``) is
skipped."""

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from .optim import TorchOptimizerState, optimizer_param_groups  # noqa: F401  (emitted code finds them beside)


def torch_group_params(params):
    """The nnx.Variables of one group's ``params`` (a Variable, an iterable of
    them, or of ``(name, Variable)`` pairs)."""
    if isinstance(params, nnx.Variable):
        return [params]
    out = []
    for p in params:
        out.append(p[1] if isinstance(p, tuple) else p)
    return out


def torch_param_groups(params):
    """torch's ``params`` argument as a list of (variables, options) groups."""
    items = list(params) if not isinstance(params, nnx.Variable) else [params]
    if items and all(isinstance(g, dict) for g in items):
        return [(torch_group_params(g["params"]), {k: v for k, v in g.items() if k != "params"}) for g in items]
    return [(torch_group_params(items), {})]


class TorchGroupsOptimizer(TorchOptimizerState, nnx.Optimizer):
    """An optimizer over torch parameter groups, each with its own
    transformation (``rule(**defaults, **group options)``); torch's
    ``param_groups`` reads and sets each group's hyperparameters."""

    def __init__(self, params, rule, **defaults):
        import inspect

        known = set(inspect.signature(rule).parameters)
        groups = torch_param_groups(params)
        seen = set()
        for vars_, _ in groups:
            for v in vars_:
                if id(v) in seen:
                    raise ValueError("some parameters appear in more than one parameter group")
                seen.add(id(v))
        self.graph = None
        self.step = nnx.OptState(jnp.array(0, dtype=jnp.uint32))
        self.held = nnx.List([nnx.List(vars_) for vars_, _ in groups])
        self.txs = tuple(rule(**{**defaults, **{k: v for k, v in opts.items() if k in known}})
                         for _, opts in groups)
        self.tx = None
        self.wrt = nnx.Param
        state = tuple(tx.init([v[...] for v in vars_]) for tx, (vars_, _) in zip(self.txs, groups))
        self.opt_state = nnx.data(nnx.training.optimizer.to_opt_state(state))
        # options torch keeps in a group that no rule reads (a group's "name")
        self._extras = tuple(tuple((k, v) for k, v in opts.items() if k not in known) for _, opts in groups)

    @property
    def param_groups(self):
        groups = optimizer_param_groups(self)
        for group, extra in zip(groups, self._extras):
            for k, v in extra:
                group.setdefault(k, v)
        return groups

    def update(self, model, grads, /, **kwargs):
        paths = {}
        for path, node in nnx.iter_graph(model):
            if isinstance(node, nnx.Variable) and id(node) not in paths:
                paths[id(node)] = tuple(path)
        flat = {tuple(p): v for p, v in nnx.to_flat_state(grads)}
        states = nnx.as_pure(self.opt_state)
        new_states = []
        for tx, held, state in zip(self.txs, self.held, states):
            held = list(held)
            grad = [flat.get(paths.get(id(v))) for v in held]
            values = [v[...] for v in held]
            g = [jnp.zeros_like(p) if x is None else jnp.asarray(x[...] if isinstance(x, nnx.Variable) else x)
                 for x, p in zip(grad, values)]
            updates, new_state = tx.update(g, state, values)
            for v, x, p, u in zip(held, grad, values, updates):
                if x is not None:  # torch skips a parameter whose grad is None
                    v[...] = p + u
            new_states.append(new_state)
        nnx.update(self.opt_state, nnx.state(tuple(new_states)))
        self.step[...] += 1


def torch_optimizer(params, rule, **defaults):
    """``torch.optim.X(params, ...)`` over anything but ``model.parameters()``:
    parameter groups with their own options, filtered parameter lists."""
    return TorchGroupsOptimizer(params, rule, **defaults)
