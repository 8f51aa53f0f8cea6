"""Weight normalisation (rules/weight_norm.py): layers wrapped by
``nn.utils.weight_norm`` and ``nn.utils.parametrizations.weight_norm`` port g and v
under torch's state_dict names, run channels-last like the layer they wrap, and
match torch in outputs and input gradients, eager and under nnx.jit. Handed
around as a value (wav2vec2's ``weight_norm = nn.utils.weight_norm``) the call
is marked: the layout pass cannot follow the wrapped layer through the variable."""

from __future__ import annotations

import textwrap

from harness import assert_close, input_grads, run_parity, translate_files
from test_layout_forward import HEADER, rand

MODEL = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1, groups=1)
        self.conv = nn.utils.parametrizations.weight_norm(self.conv, name="weight", dim=2)
        self.c2 = nn.utils.weight_norm(nn.Conv1d(4, 6, 1))
        self.up = nn.utils.parametrizations.weight_norm(nn.ConvTranspose1d(6, 4, 2, stride=2))
        self.fc = nn.utils.weight_norm(nn.Linear(4, 5), dim=None)

    def forward(self, x):
        y = self.up(self.c2(self.conv(x)))
        return self.fc(y.transpose(1, 2))
"""

ALIAS = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        weight_norm = nn.utils.weight_norm
        self.conv = weight_norm(nn.Conv1d(3, 4, 1))

    def forward(self, x):
        return self.conv(x)
"""


def test_weight_normalised_layers_match_torch(tmp_path):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(MODEL), tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "ParametrizedWeightNorm(" in result.code and "WeightNorm(" in result.code
    x = rand(2, 3, 7)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)
        t_grad, j_grad = input_grads(result, tmod, jmod, wmod, "Net", x, jit=jit)
        assert_close(t_grad, j_grad, what="input gradient")
    keys = [k for k, *_ in wmod.torch_key_map(jmod.Net(rngs=__import__("flax").nnx.Rngs(0)))]
    assert "conv.parametrizations.weight.original0" in keys and "c2.weight_g" in keys


def test_weight_norm_as_a_value_is_marked(tmp_path):
    result, *_ = translate_files(HEADER + textwrap.dedent(ALIAS), tmp_path)
    assert "TODO(torch2nnx): T2N004 torch.nn.utils.weight_norm as a value" in result.code
