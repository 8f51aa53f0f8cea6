"""timm's norm + act layers (norm_act.py, create_norm_act.py), a failure class
of the timm corpus (vovnet, ese, cspnet, dpn, tresnet, xception, densenet...):

- ``class BatchNormAct2d(nn.BatchNorm2d)`` with its own ``__init__`` calling
  ``super().__init__(torch args)`` inside ``try/except TypeError`` (each call
  bound through the row), a forward reading torch's attributes (``self.eps``,
  ``self.momentum``, ``self.running_mean``, ``self.num_batches_tracked``) and
  calling ``F.batch_norm``;
- a registry resolving a torch layer class by ``__name__`` and by membership
  (``get_norm_act_layer``): the class value keeps a class identity.
"""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

SOURCE = textwrap.dedent('''
    import functools
    import types
    from typing import Any, Dict, Optional, Type

    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    def _create_act(act_layer, act_kwargs=None, inplace=False, apply_act=True):
        act_kwargs = act_kwargs or {}
        act_kwargs.setdefault("inplace", inplace)
        act = None
        if apply_act:
            act = act_layer(**act_kwargs)
        return nn.Identity() if act is None else act


    class BatchNormAct2d(nn.BatchNorm2d):
        def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                     track_running_stats: bool = True, apply_act: bool = True, act_layer=nn.ReLU,
                     act_kwargs: Dict[str, Any] = None, inplace: bool = True,
                     drop_layer: Optional[Type[nn.Module]] = None, device=None, dtype=None):
            try:
                factory_kwargs = {"device": device, "dtype": dtype}
                super().__init__(num_features, eps=eps, momentum=momentum, affine=affine,
                                 track_running_stats=track_running_stats, **factory_kwargs)
            except TypeError:
                # old torch without device/dtype
                super().__init__(num_features, eps=eps, momentum=momentum, affine=affine,
                                 track_running_stats=track_running_stats)
            self.drop = drop_layer() if drop_layer is not None else nn.Identity()
            self.act = _create_act(act_layer, act_kwargs=act_kwargs, inplace=inplace, apply_act=apply_act)

        def forward(self, x):
            if self.momentum is None:
                exponential_average_factor = 0.0
            else:
                exponential_average_factor = self.momentum
            if self.training and self.track_running_stats:
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
                    if self.momentum is None:
                        exponential_average_factor = 1.0 / float(self.num_batches_tracked)
                    else:
                        exponential_average_factor = self.momentum
            if self.training:
                bn_training = True
            else:
                bn_training = (self.running_mean is None) and (self.running_var is None)
            x = F.batch_norm(
                x,
                self.running_mean if not self.training or self.track_running_stats else None,
                self.running_var if not self.training or self.track_running_stats else None,
                self.weight,
                self.bias,
                bn_training,
                exponential_average_factor,
                self.eps,
            )
            x = self.drop(x)
            x = self.act(x)
            return x


    _NORM_ACT_MAP = dict(batchnorm=BatchNormAct2d, batchnorm2d=BatchNormAct2d)
    _NORM_ACT_TYPES = {m for n, m in _NORM_ACT_MAP.items()}


    def get_norm_act_layer(norm_layer, act_layer=None):
        assert isinstance(norm_layer, (type, str, types.FunctionType, functools.partial))
        norm_act_kwargs = {}
        if isinstance(norm_layer, functools.partial):
            norm_act_kwargs.update(norm_layer.keywords)
            norm_layer = norm_layer.func
        if isinstance(norm_layer, str):
            norm_act_layer = _NORM_ACT_MAP[norm_layer.replace("_", "").lower()]
        elif norm_layer in _NORM_ACT_TYPES:
            norm_act_layer = norm_layer
        elif isinstance(norm_layer, types.FunctionType):
            norm_act_layer = norm_layer
        else:
            type_name = norm_layer.__name__.lower()
            norm_act_layer = _NORM_ACT_MAP.get(type_name, None)
            assert norm_act_layer is not None, f"No equivalent norm_act layer for {type_name}"
        norm_act_kwargs.setdefault("act_layer", act_layer)
        return functools.partial(norm_act_layer, **norm_act_kwargs)


    class ConvNormAct(nn.Module):
        def __init__(self, cin, cout, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU, apply_act=True):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
            norm_act_layer = get_norm_act_layer(norm_layer, act_layer)
            self.bn = norm_act_layer(cout, apply_act=apply_act)

        def forward(self, x):
            return self.bn(self.conv(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = ConvNormAct(3, 8)
            self.b = ConvNormAct(8, 8, act_layer=nn.SiLU, apply_act=False)
            self.c = BatchNormAct2d(8, eps=1e-3, momentum=0.2, act_layer=nn.SiLU)
            self.is_bn = isinstance(self.c, nn.BatchNorm2d)

        def forward(self, x):
            return self.c(self.b(self.a(x)))
''')


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_batchnorm_subclass_with_super_init_in_try_except(tmp_path):
    """Both super().__init__ calls are bound through the row; torch's attributes
    read as NNX keeps them; F.batch_norm on the layer's own statistics."""
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    code = result.code
    assert "class BatchNormAct2d(TorchBatchNorm):" in code
    cls_src = code.split("class BatchNormAct2d(TorchBatchNorm):")[1].split("\n_NORM_ACT_MAP")[0]
    assert cls_src.count("momentum=1 - momentum,") == 2  # each call of the try/except
    assert "exponential_average_factor = 1 - self.momentum" in code  # torch's momentum 0.1 is NNX's 0.9
    assert "eps=self.epsilon" in code and "axis=-1" in code  # channels-last: the last axis
    for train in (False, True):
        run_parity(result, tmod, jmod, wmod, "BatchNormAct2d", [rand(2, 8, 5, 5)], train=train, jit=True,
                   kwargs={"num_features": 8, "eps": 1e-3, "momentum": 0.2})
    # the state_dict keys: weight, bias, running_mean, running_var (num_batches_tracked not required)
    from flax import nnx

    keys = {k for k, *_ in wmod.torch_key_map(jmod.BatchNormAct2d(4, rngs=nnx.Rngs(0)))}
    assert {"weight", "bias", "running_mean", "running_var"} <= keys
    # torch's names read off an instance whose class the translator cannot see (timm's
    # `self.conv3.bn.weight` zero-init) reach the NNX state
    layer = jmod.BatchNormAct2d(4, rngs=nnx.Rngs(0))
    assert layer.weight is layer.scale and layer.running_var is layer.var and layer.eps == 1e-5


def test_batchnorm_subclass_updates_running_stats_in_training(tmp_path):
    """torch's F.batch_norm writes the running statistics: the helper updates the
    Variables in place, under nnx.jit too, with torch's momentum and unbiased variance."""
    import torch
    from flax import nnx

    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    t_model = tmod.BatchNormAct2d(4, momentum=0.3)
    j_model = jmod.BatchNormAct2d(4, momentum=0.3, rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(j_model, t_model.state_dict())
    x = rand(3, 4, 5, 5, seed=1)
    t_model.train()
    j_model.train()
    t_model(torch.from_numpy(x))
    nnx.jit(lambda m, v: m(v))(j_model, np.transpose(x, (0, 2, 3, 1)))
    np.testing.assert_allclose(np.asarray(j_model.mean[...]), t_model.running_mean.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(j_model.var[...]), t_model.running_var.numpy(), rtol=1e-5, atol=1e-5)


def test_registry_resolves_a_layer_class_by_name(tmp_path):
    """nn.BatchNorm2d as a value is a class named BatchNorm2d: get_norm_act_layer
    maps it to BatchNormAct2d by __name__ (not as a plain function)."""
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert 'torch_class(\n            "BatchNorm2d",\n            nnx.BatchNorm,' in result.code \
        or 'torch_class("BatchNorm2d", nnx.BatchNorm' in result.code
    from flax import nnx

    cls = jmod.ConvNormAct.__init__.__defaults__[0]
    assert isinstance(cls, type) and cls.__name__ == "BatchNorm2d"
    assert jmod.get_norm_act_layer(cls).func is jmod.BatchNormAct2d
    assert isinstance(nnx.BatchNorm(2, rngs=nnx.Rngs(0)), cls)
    net = jmod.Net(rngs=nnx.Rngs(0))
    assert type(net.a.bn) is jmod.BatchNormAct2d and net.is_bn
    for train in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 6, 6)], train=train, jit=True)
