"""Layers reached through loop and comprehension variables
(``translator/loop_bindings.py``): ``[op(x) for i, op in enumerate(self.paths)]``,
``for i, (conv, bn) in enumerate(zip(self.convs, self.bns))``,
``[x] + [pool(x) for pool in self.poolings]``, ``for conv in self.values()`` of a
ModuleDict subclass. The variable holds a layer (or a translated class), so
it is handed channels-last maps, not torch order as to unknown code, and the
lists the comprehensions build keep that layout for the concatenations.
Torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files
from test_layout_forward import HEADER

LOOPS = """
    class ConvBn(nn.Module):
        def __init__(self, cin, cout, k=3):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
            self.bn = nn.BatchNorm2d(cout)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))


    class SplitPaths(nn.Module):
        # selective kernel: each path a translated class, reached through enumerate
        def __init__(self, c):
            super().__init__()
            self.paths = nn.ModuleList([ConvBn(c // 2, c, k) for k in (3, 5)])

        def forward(self, x):
            x_split = torch.split(x, x.shape[1] // 2, 1)
            x_paths = [op(x_split[i]) for i, op in enumerate(self.paths)]
            x = torch.stack(x_paths, dim=1)
            return x.sum(1)


    class Scales(nn.Module):
        # res2net: layers reached through enumerate(zip(...)), a tuple target
        def __init__(self, c, scale=3):
            super().__init__()
            w = c // scale
            self.w = w
            self.convs = nn.ModuleList([nn.Conv2d(w, w, 3, padding=1, bias=False) for _ in range(scale - 1)])
            self.bns = nn.ModuleList([nn.BatchNorm2d(w) for _ in range(scale - 1)])

        def forward(self, x):
            spx = torch.split(x, self.w, 1)
            spo = []
            sp = spx[0]
            for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
                sp = sp + spx[i] if i > 0 else spx[i]
                sp = torch.relu(bn(conv(sp)))
                spo.append(sp)
            spo.append(spx[-1])
            return torch.cat(spo, 1)


    class Spp(nn.Module):
        # cspnext: a list of the input joined with a comprehension of pooled maps
        def __init__(self, c):
            super().__init__()
            self.poolings = nn.ModuleList([nn.MaxPool2d(k, 1, k // 2) for k in (3, 5)])
            self.conv = nn.Conv2d(3 * c, c, 1)

        def forward(self, x):
            x = torch.cat([x] + [pool(x) for pool in self.poolings], 1)
            return self.conv(x)


    class Mixed(nn.ModuleDict):
        # MixedConv2d: a ModuleDict subclass filled with add_module, iterated with values()
        def __init__(self, c):
            super().__init__()
            for i, k in enumerate((1, 3)):
                self.add_module(str(i), nn.Conv2d(c // 2, c // 2, k, padding=k // 2))
            self.splits = [c // 2, c // 2]

        def forward(self, x):
            x_split = torch.split(x, self.splits, 1)
            x_out = [c(x_split[i]) for i, c in enumerate(self.values())]
            return torch.cat(x_out, 1)


    class Net(nn.Module):
        def __init__(self, c=6):
            super().__init__()
            self.stem = nn.Conv2d(3, c, 3, padding=1)
            self.sk = SplitPaths(c)
            self.res = Scales(c)
            self.spp = Spp(c)
            self.mixed = Mixed(c)

        def forward(self, x):
            x = self.stem(x)
            x = self.sk(x)
            x = self.res(x)
            x = self.spp(x)
            x = self.mixed(x)
            return x
"""


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_layers_through_loop_and_comprehension_variables(tmp_path):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(LOOPS), tmp_path)
    src = result.code
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 7, 7)], jit=jit)
    for cls in ("SplitPaths", "Scales", "Spp", "Mixed"):
        s = result.layout_of(cls)
        assert s is not None and s.takes["x"].channels_last, f"{cls} must take x channels-last"
    assert "jnp.transpose" not in src, "no transposes inside: every layer takes channels-last maps"


APPEND_LIST = """
    class ConvBn(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(cout)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))


    class SequentialAppendList(nn.Sequential):
        def __init__(self, *args):
            super().__init__(*args)

        def forward(self, x: torch.Tensor, concat_list: List[torch.Tensor]) -> torch.Tensor:
            for i, module in enumerate(self):
                if i == 0:
                    concat_list.append(module(x))
                else:
                    concat_list.append(module(concat_list[-1]))
            x = torch.cat(concat_list, dim=1)
            return x


    class Osa(nn.Module):
        def __init__(self, cin=4, mid=6, n=3):
            super().__init__()
            self.conv_reduction = ConvBn(cin, mid)
            self.conv_mid = SequentialAppendList(*[ConvBn(mid, mid) for _ in range(n)])
            self.conv_concat = ConvBn(cin + n * mid, cin)

        def forward(self, x):
            output = [x]
            x = self.conv_reduction(x)
            x = self.conv_mid(x, output)
            return self.conv_concat(x)
"""


def test_list_handed_to_a_class_as_a_later_argument_keeps_its_layout(tmp_path):
    # VoVNet: the block appends its outputs to the list its caller hands it and
    # concatenates the channels; the list's layout comes from the caller
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(APPEND_LIST), tmp_path)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Osa", [rand(2, 4, 5, 5)], jit=jit)
    assert "TODO(torch2nnx)" not in result.code
    assert "jnp.transpose" not in result.code


MAPPED_LAMBDA = """
    class CrossEmbed(nn.Module):
        # vit-pytorch's CrossFormer: convolutions of several kernel sizes mapped over the input
        def __init__(self, cin, cout, kernels=(2, 4)):
            super().__init__()
            self.convs = nn.ModuleList([nn.Conv2d(cin, cout // 2, k, stride=2, padding=(k - 2) // 2)
                                        for k in kernels])

        def forward(self, x):
            fmaps = tuple(map(lambda conv: conv(x), self.convs))
            return torch.cat(fmaps, dim=1)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = CrossEmbed(3, 8)
            self.scales = nn.ModuleList([nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1)])
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            x = self.embed(x)
            # two iterables, two parameters
            x = sum(map(lambda conv, w: conv(x) * w, self.scales, (0.5, 2.0)))
            return self.head(x)
"""


def test_layers_mapped_through_a_lambda(tmp_path):
    # map(lambda conv: conv(x), self.convs) is a comprehension over the list's layers
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(MAPPED_LAMBDA), tmp_path)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 8, 8)], jit=jit)
    assert result.layout_of("CrossEmbed").takes["x"].channels_last
    assert "jnp.transpose" not in result.code, result.code
