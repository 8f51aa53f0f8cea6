"""torch's Module API on translated models and containers (issue 11).

Initialisation and helper code calls ``named_children``, ``named_modules``,
``named_parameters``, ``apply``, ``add_module``, ``requires_grad_``,
``train(mode)`` ... on models; the translations call runtime helpers that
walk the NNX model in torch's order and name what they find as torch does.
Each test translates a small torch model whose forward or whose own methods
depend on those calls and compares both sides (perturbed weights ported
through the weights module, rtol = atol = 1e-4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import assert_close, make_input, perturb, run_parity, translate_files

# A ResNet-like backbone (stateless layers held as attributes, a Sequential
# stage, layers registered in an order that differs from their names'), a
# torchvision-style IntermediateLayerGetter over its named_children, a
# Sequential filled by add_module in a loop, a ModuleList extended, inserted
# into and appended to (channel counts differ, so the order matters).
MODEL = '''
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F


class Backbone(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 2 * width, 1))
        self.act = nn.Tanh()
        self.layer2 = nn.Conv2d(2 * width, 16, 3, stride=2, padding=1)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.stem(x))))
        x = self.layer2(self.act(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class LayerGetter(nn.ModuleDict):
    """torchvision's IntermediateLayerGetter (its __init__ as it is)."""

    def __init__(self, model: nn.Module, return_layers):
        if not set(return_layers).issubset([name for name, _ in model.named_children()]):
            raise ValueError("return_layers are not present in model")
        orig_return_layers = return_layers
        return_layers = {str(k): str(v) for k, v in return_layers.items()}
        layers = OrderedDict()
        for name, module in model.named_children():
            layers[name] = module
            if name in return_layers:
                del return_layers[name]
            if not return_layers:
                break
        super().__init__(layers)
        self.return_layers = orig_return_layers

    def forward(self, x):
        # torchvision returns the dict of features; the last one will do here
        for name, module in self.items():
            x = module(x)
        return x


class Net(nn.Module):
    def __init__(self, depth=2):
        super().__init__()
        self.pre = nn.Conv2d(3, 3, 1)
        self.body = LayerGetter(Backbone(), {"layer1": "aux", "layer2": "out"})
        self.head = nn.Sequential()
        for i in range(depth):
            self.head.add_module(f"conv{i}", nn.Conv2d(16, 16, 1))
            self.head.add_module(f"act{i}", nn.ReLU())
        self.blocks = nn.ModuleList([nn.Conv2d(16, 12, 1)])
        self.blocks.extend([nn.Conv2d(12, 10, 1), nn.Conv2d(10, 6, 1)])
        self.blocks.insert(0, nn.Conv2d(16, 16, 1))
        self.blocks.append(nn.Conv2d(6, 4, 1))
        self.aux = nn.Conv2d(16, 4, 1)
        self.register_module("extra", nn.Conv2d(4, 4, 1))

    def forward(self, x):
        x = self.body(self.pre(x))
        aux = self.aux(x)
        x = self.head(x)
        for block in self.blocks:
            x = block(x)
        return self.extra(x) + aux

    # what the Module API tells; compared with torch's
    def children_names(self):
        return [name for name, _ in self.named_children()] + [name for name, _ in self.head.named_children()]

    def module_names(self):
        return [name for name, _ in self.named_modules()]

    def conv_names(self):
        return [name for name, m in self.named_modules() if isinstance(m, nn.Conv2d)]

    def counts(self):
        convs = []
        self.apply(lambda m: convs.append(isinstance(m, nn.Conv2d)))
        return [len(list(self.children())), len(list(self.modules())), sum(1 for _ in self.parameters()),
                sum(1 for _ in self.buffers()), convs]

    def parameter_names(self):
        return [name for name, _ in self.named_parameters()]

    def buffer_names(self):
        return [name for name, _ in self.named_buffers()]

    def parameter_sizes(self):
        return [p.numel() for p in self.parameters()]

    def run_submodule(self, x):
        return self.get_submodule("body.layer1")(self.get_submodule("body.stem")(self.pre(x)))


def build():
    return Net().eval()
'''

INPUT = "float32[2,3,16,16]"


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translate_files(MODEL, tmp_path_factory.mktemp("module_api"))


def _models(translated, seed=0):
    from flax import nnx

    result, tm, jm, wm = translated
    torch.manual_seed(seed)
    t_model = tm.Net()
    perturb(t_model, seed)
    j_model = jm.Net(rngs=nnx.Rngs(0))
    wm.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    return t_model, j_model


def test_translation_uses_the_helpers(translated):
    result, _, jm, _ = translated
    code = result.code
    assert result.todo_count == 0, [d.format() for d in result.diagnostics]
    for helper in ("module_named_children(model)", "module_named_modules(self)", "module_apply(self",
                   "module_named_parameters(self)", "module_get_submodule(self", "module_add_module(",
                   "module_train(Net(rngs=rngs), False)"):
        assert helper.replace(" ", "") in "".join(code.split()), helper  # black may break the call
    # an empty Sequential filled by add_module keeps torch's names
    assert "self.head = NamedSequential()" in code
    # ResNet's stateless attributes are children for torch
    assert jm.Backbone._stateless_layers == ("relu", "maxpool", "act", "avgpool")


def test_layer_getter_over_named_children_at_parity(translated):
    # IntermediateLayerGetter runs the backbone's children in order: dropping
    # relu / maxpool (functions in NNX) or reordering them changes the output
    result, tm, jm, wm = translated
    x = make_input(INPUT, np.random.default_rng(1))
    diff = run_parity(result, tm, jm, wm, "Net", [x])
    assert diff < 1e-4


def test_names_and_order_match_torch(translated):
    t_model, j_model = _models(translated)
    assert j_model.children_names() == t_model.children_names()
    assert j_model.module_names() == t_model.module_names()
    # the order survives nnx.clone / split / merge (which rebuild attributes sorted)
    from flax import nnx

    assert nnx.clone(j_model).module_names() == t_model.module_names()
    assert j_model.conv_names() == t_model.conv_names()
    t_counts, j_counts = t_model.counts(), j_model.counts()
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in t_model.modules())
    t_counts[3] -= n_bn  # BatchNorm's num_batches_tracked has no NNX counterpart
    assert j_counts == t_counts
    assert j_model.parameter_sizes() == t_model.parameter_sizes()
    # named_parameters / named_buffers give torch's state_dict names
    assert j_model.parameter_names() == t_model.parameter_names()
    sd = t_model.state_dict()
    assert j_model.buffer_names() == [n for n in t_model.buffer_names() if not n.endswith("num_batches_tracked")]
    assert set(j_model.parameter_names()) | set(j_model.buffer_names()) <= set(sd)


def test_named_parameters_are_the_ported_variables(translated):
    # each name's variable holds that torch entry (through the weights module's transform)
    result, tm, jm, wm = translated
    t_model, j_model = _models(translated)
    entries = {k: v for k, v, _, _ in wm.torch_key_map(j_model)}
    for name, var in jm.module_named_parameters(j_model):
        assert entries[name] is var, name


def test_get_submodule_at_parity(translated):
    t_model, j_model = _models(translated)
    x = make_input(INPUT, np.random.default_rng(2))
    with torch.no_grad():
        t_out = t_model.run_submodule(torch.from_numpy(x)).numpy()
    j_out = np.asarray(j_model.run_submodule(np.transpose(x, (0, 2, 3, 1))))
    assert_close(t_out, np.transpose(j_out, (0, 3, 1, 2)))


def test_eval_as_a_value_returns_the_model(translated):
    _, _, jm, _ = translated
    model = jm.build(rngs=__import__("flax").nnx.Rngs(0))
    assert isinstance(model, jm.Net)
    assert model.body["bn1"].use_running_average is True


# requires_grad_ on a submodule and on a parameter, p.requires_grad read and
# assigned, train(mode) and eval() in a method that freezes BatchNorm
FROZEN = '''
import torch
import torch.nn as nn


class Frozen(nn.Module):
    def __init__(self, freeze_bn=True):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.scale = nn.Parameter(torch.ones(8))
        self.head = nn.Conv2d(8, 4, 1)
        self.backbone.requires_grad_(False)
        self.scale.requires_grad = False
        self.freeze_bn = freeze_bn

    def forward(self, x):
        return self.head(self.backbone(x) * self.scale.view(1, -1, 1, 1))

    def trainable(self):
        return [n for n, p in self.named_parameters() if p.requires_grad]

    def unfreeze(self):
        self.backbone.get_submodule("0").requires_grad_()
        return self.trainable()

    def set_mode(self, mode=True):
        self.train(mode)
        if self.freeze_bn:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self
'''


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return translate_files(FROZEN, tmp_path_factory.mktemp("module_api_frozen"))


def _frozen_models(frozen, seed=0):
    from flax import nnx

    result, tm, jm, wm = frozen
    torch.manual_seed(seed)
    t_model = tm.Frozen()
    perturb(t_model, seed)
    j_model = jm.Frozen(rngs=nnx.Rngs(0))
    # frozen parameters (FrozenParam) are still ported
    wm.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    return t_model, j_model


def test_requires_grad_is_recorded(frozen):
    result = frozen[0]
    assert result.todo_count == 0, [d.format() for d in result.diagnostics]
    assert "module_requires_grad_(self.scale, False)" in result.code
    t_model, j_model = _frozen_models(frozen)
    assert j_model.trainable() == t_model.trainable() == ["head.weight", "head.bias"]
    assert type(j_model.scale).__name__ == "FrozenParam"
    assert j_model.unfreeze() == t_model.unfreeze()


def test_frozen_parameters_are_skipped_by_an_nnx_optimizer(frozen):
    import jax.numpy as jnp
    import optax
    from flax import nnx

    _, j_model = _frozen_models(frozen)
    j_model.eval()  # running statistics stay: only what the optimizer does changes
    before = {k: np.asarray(v.get_value()) for k, v, _, _ in frozen[3].torch_key_map(j_model)}
    opt = nnx.Optimizer(j_model, optax.sgd(0.1), wrt=nnx.Param)
    x = jnp.asarray(make_input("float32[2,8,8,3]", np.random.default_rng(3)))

    def loss(m):
        return jnp.mean(m(x) ** 2)

    grads = nnx.grad(loss, argnums=nnx.DiffState(0, nnx.Param))(j_model)
    opt.update(j_model, grads)
    after = {k: np.asarray(v.get_value()) for k, v, _, _ in frozen[3].torch_key_map(j_model)}
    changed = sorted(k for k in before if not np.array_equal(before[k], after[k]))
    assert changed == ["head.bias", "head.weight"]


def test_train_mode_with_frozen_batchnorm_at_parity(frozen):
    # set_mode: model.train(True), then every BatchNorm back to eval: with
    # perturbed running statistics the output tells which statistics were used
    t_model, j_model = _frozen_models(frozen)
    x = make_input("float32[2,3,8,8]", np.random.default_rng(4))
    assert t_model.set_mode(True) is t_model and j_model.set_mode(True) is j_model
    assert j_model.backbone.layers[1].use_running_average is True
    with torch.no_grad():
        t_out = t_model(torch.from_numpy(x)).numpy()
    j_out = np.asarray(j_model(np.transpose(x, (0, 2, 3, 1))))
    assert_close(t_out, np.transpose(j_out, (0, 3, 1, 2)))
    # and train(False) switches the rest too
    j_model.set_mode(False)
    assert j_model.backbone.layers[1].use_running_average is True


# a Sequential used as a sequence: iterated (in its own forward too), indexed,
# sliced, measured; an nnx.Sequential keeps its layers in .layers
SEQUENCE = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Pool(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x):
        for mod in self:
            x = mod(x)
        return F.interpolate(x, scale_factor=16, mode="nearest")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                                      nn.ReLU())
        self.pool = Pool(8, 4)
        convs = [i for i, b in enumerate(self.features) if isinstance(b, nn.Conv2d)]
        self.n = len(self.features) + len(convs)
        self.width = self.features[-2].out_channels

    def forward(self, x):
        x = self.features[:2](x)
        for m in self.features[2:]:
            x = m(x)
        y = self.features[0](x[:, :3])
        return torch.cat([self.pool(x), y[:, :4]], 1) * (self.n + self.width)
'''


def test_sequential_as_a_sequence_at_parity(tmp_path):
    result, tm, jm, wm = translate_files(SEQUENCE, tmp_path)
    assert result.todo_count == 0, [d.format() for d in result.diagnostics]
    assert "for mod in self.layers:" in result.code
    assert "len(self.features.layers)" in result.code
    assert "nnx.Sequential(*self.features.layers[:2])(x)" in result.code
    x = make_input("float32[2,3,16,16]", np.random.default_rng(5))
    assert run_parity(result, tm, jm, wm, "Net", [x]) < 1e-4


# the layers NNX has no class for (recurrent, attention, transformer helpers)
# and NNX's own layers report torch's submodules and parameter names
LAYERS = '''
import torch
import torch.nn as nn


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.lstm = nn.LSTM(16, 16, num_layers=2, dropout=0.1, bidirectional=True, batch_first=True)
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2)
        self.norm = nn.LayerNorm(32)
        self.bn = nn.BatchNorm1d(32)
        self.prelu = nn.PReLU()
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(32, 5, bias=False)

    def forward(self, x):
        h, _ = self.lstm(self.embed(x))
        h = self.encoder(self.attn(h, h, h)[0])
        return self.head(self.drop(self.prelu(self.norm(h))))

    def names(self):
        return ([n for n, _ in self.named_modules()], [n for n, _ in self.named_parameters()],
                [n for n, _ in self.named_buffers()], [n for n, _ in self.named_children()])
'''


def test_layer_helpers_report_torch_names(tmp_path):
    from flax import nnx

    result, tm, jm, wm = translate_files(LAYERS, tmp_path)
    assert result.todo_count == 0, [d.format() for d in result.diagnostics]
    t_model, j_model = tm.Mixed(), jm.Mixed(rngs=nnx.Rngs(0))
    t_mods, t_params, t_bufs, t_children = t_model.names()
    j_mods, j_params, j_bufs, j_children = j_model.names()
    assert j_children == t_children
    assert j_mods == t_mods
    assert j_params == t_params
    assert j_bufs == [n for n in t_bufs if not n.endswith("num_batches_tracked")]
    entries = {k for k, _, _, _ in wm.torch_key_map(j_model)}
    assert set(j_params) | set(j_bufs) <= entries


TRAIN_HANDED = '''
import torch
import torch.nn as nn


class Head(nn.Module):
    def __init__(self, dim, pool):
        super().__init__()
        self.fc = nn.Linear(dim, 3)
        self.reset(pool)

    def reset(self, pool):
        # timm's NormMlpClassifierHead.reset: a module handed in, switched to our mode
        self.pool = pool.train(self.training)

    def forward(self, x):
        return self.fc(self.pool(x).mean((2, 3)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.drop = nn.Dropout(0.5)
        self.head = Head(4, nn.ReLU())
        self.head2 = Head(4, nn.Sequential(nn.Conv2d(4, 4, 1), self.drop))

    def forward(self, x):
        x = self.conv(x)
        return self.head(x) + self.head2(x)
'''


def test_train_with_a_mode_on_a_module_handed_in(tmp_path):
    """``pool.train(self.training)`` on a module of unknown class (a parameter):
    torch's positional mode is the Module API (NNX's own train takes keywords
    only), a stateless layer kept as a function has nothing to switch, and the
    value is the module, as in torch; no ``rngs`` handed to it."""
    from harness import run_parity

    result, tm, jm, wm = translate_files(TRAIN_HANDED, tmp_path)
    assert result.todo_count == 0, [d.format() for d in result.diagnostics]
    assert "module_train(pool, (not self.deterministic))" in result.code, result.code
    rng = np.random.default_rng(0)
    run_parity(result, tm, jm, wm, "Net", [rng.standard_normal((2, 3, 8, 8)).astype(np.float32)], jit=True)
