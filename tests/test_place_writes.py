"""In-place writes through a slice or a view of a parameter (timm's GluMlp:
``nn.init.ones_(self.fc1.bias[n // 2:])``, ``nn.init.normal_(self.fc1.weight[n // 2:])``):
the whole Variable takes its new value with the slice replaced, the slice taken in
the kernel's own order (a Linear weight's rows are the kernel's last axis)."""

from __future__ import annotations

import numpy as np
import torch

from harness import assert_close, make_input, perturb, translate_files

SRC = '''import torch
import torch.nn as nn


class Glu(nn.Module):
    def __init__(self, dim=5, hidden=6):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden * 2)
        self.fc2 = nn.Linear(hidden, dim)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        w = torch.ones(4, dim)
        nn.init.zeros_(w[1:, 2:])  # a local array: its name takes the new value
        self.scale = nn.Parameter(w)

    def init_weights(self):
        n = self.fc1.bias.shape[0]
        nn.init.ones_(self.fc1.bias[n // 2:])
        nn.init.normal_(self.fc1.weight[n // 2:], std=1e-6)
        nn.init.constant_(self.conv.weight[:, 1], 0.5)
        nn.init.zeros_(self.conv.bias[2:])
        nn.init.constant_(self.fc2.weight[1:][:, 3:], -0.25)  # a slice of a slice
        self.fc2.weight[..., :2].fill_(0.125)  # read in torch's order, written back in the kernel's

    def forward(self, x):
        y = self.conv(x).mean((2, 3))
        a, b = self.fc1(self.scale[:, :3].sum() + y.sum(1, keepdim=True) * torch.ones(1, 5)).chunk(2, dim=-1)
        return self.fc2(a * b)
'''


def test_init_through_parameter_slices(tmp_path):
    from flax import nnx
    import jax.numpy as jnp

    result, tmod, jmod, wmod = translate_files(SRC, tmp_path)
    assert "TODO" not in result.code, result.code
    torch.manual_seed(0)
    t_model = tmod.Glu()
    j_model = jmod.Glu(rngs=nnx.Rngs(0))
    entries = {k: v for k, v, _, _ in wmod.torch_key_map(j_model)}
    # the local array written through a slice before it became a parameter
    assert_close(t_model.scale.detach().numpy(), np.asarray(entries["scale"].get_value()), what="scale")
    perturb(t_model, 0)
    wmod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    with torch.no_grad():
        t_model.init_weights()
    j_model.init_weights(rngs=nnx.Rngs(1))
    # what init wrote, in torch's order: a slice on the wrong axis leaves perturbed values
    sd = t_model.state_dict()
    for key, transform in (("fc1.bias", None), ("fc1.weight", (1, 0)), ("fc2.weight", (1, 0)),
                           ("conv.weight", (3, 2, 0, 1)), ("conv.bias", None)):
        j = np.asarray(entries[key].get_value())
        assert_close(sd[key].numpy(), np.transpose(j, transform) if transform else j, what=key)
    x = make_input("float32[2,3,6,6]", np.random.default_rng(0))
    t_model.eval()
    j_model.eval()
    with torch.no_grad():
        t_out = t_model(torch.from_numpy(x)).numpy()
    j_out = np.asarray(j_model(jnp.asarray(np.transpose(x, (0, 2, 3, 1)))))
    assert_close(t_out, j_out)


def test_fans_of_a_view_are_marked(tmp_path):
    """kaiming on a slice that drops an axis: JAX's fans of the kernel's slice are not
    torch's of the weight's, so it is marked, never drawn with another scale."""
    src = '''import torch.nn as nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        nn.init.kaiming_normal_(self.conv.weight[:, 0])
        nn.init.kaiming_normal_(self.conv.weight[2:])

    def forward(self, x):
        return self.conv(x)
'''
    result, *_ = translate_files(src, tmp_path)
    assert [d.code for d in result.diagnostics if d.code != "T2N100"] == ["T2N002"], result.diagnostics
    assert "inplace_set(" in result.code and "kernel[:, :, :, 2:]" in result.code, result.code


def test_init_of_a_layer_attribute_read_at_run_time_writes_the_variable(tmp_path):
    """timm's cspnet: ``nn.init.zeros_(self.conv3.bn.weight)`` where ``bn`` is built
    by a factory the translator cannot type: the attribute read at run time is the
    layer's Variable, written with set_value (not a T2N005)."""
    import textwrap

    from harness import run_parity, translate_files

    src = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
        class Net(nn.Module):
            def __init__(self, norm_layer=nn.LayerNorm, dim=4):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.norm = norm_layer(dim)

            def zero_init_last(self):
                nn.init.zeros_(self.norm.weight)

            def forward(self, x):
                return self.norm(self.fc(x))
    """)
    result, tmod, jmod, wmod = translate_files(src, tmp_path)
    assert "T2N005" not in result.code, result.code
    assert 'torch_layer_attr(self.norm, "weight").set_value(' in result.code, result.code
    j = jmod.Net(rngs=__import__("flax").nnx.Rngs(0))
    j.zero_init_last()
    assert float(abs(j.norm.scale.get_value()).max()) == 0.0
    run_parity(result, tmod, jmod, wmod, "Net", [np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)])


def test_bias_of_a_layer_read_at_run_time_is_written_in_place(tmp_path):
    """timm's hieradet: ``self.head.fc.bias.data.mul_(s)`` on a layer the translator
    cannot type: NNX keeps the name ``bias`` (no torch_layer_attr needed), and the
    read is a weight all the same, so ``.data`` and the in-place op are translated
    (it was left as it was, an AttributeError at build)."""
    import textwrap

    from flax import nnx

    from harness import run_parity, translate_files

    src = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
        class Net(nn.Module):
            def __init__(self, norm_layer=nn.LayerNorm, dim=4, scale=0.5):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.norm = norm_layer(dim)
                self.norm.bias.data.add_(1.0)
                self.norm.bias.data.mul_(scale)

            def forward(self, x):
                return self.norm(self.fc(x))
    """)
    result, tmod, jmod, wmod = translate_files(src, tmp_path)
    net = result.code.split("class Net")[-1]
    assert ".data" not in net and "mul_(" not in net, net
    j = jmod.Net(rngs=nnx.Rngs(0))
    np.testing.assert_allclose(np.asarray(j.norm.bias.get_value()), tmod.Net().norm.bias.detach().numpy())
    assert float(abs(j.norm.bias.get_value() - 0.5).max()) == 0.0
    run_parity(result, tmod, jmod, wmod, "Net", [np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)])
