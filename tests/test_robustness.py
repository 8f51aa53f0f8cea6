"""Issue 11, whole packages without a crash: each failure class the package
censuses found, pinned by a test of its own, and a census over a
representative subset of timm and transformers (read from site-packages at
test time, never copied here).

Classes: attributes translated by what they are, never by their name (an
assignment target is a place, not a value; a module is not a tensor); the
mode flag ``self.training`` assigned; argument sources that keep their
meaning inside a build's text (precedence, lambdas); starred arguments a row
cannot bind; a ``def`` shadowing a torch import; TorchScript, compile and
tracing decorations removed from functions, methods and classes.
"""

from __future__ import annotations

import importlib.util
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import torch2nnx
from harness import run_parity, translate_files
from torch2nnx.census import census_file

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def translate(source: str, header: str = ""):
    return torch2nnx.translate(header + textwrap.dedent(source), "model.py", module_name="model_nnx")


def compiles_cleanly(code: str) -> None:
    """Compiles, and without a SyntaxWarning (``None(x)`` compiles with one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyntaxWarning)
        compile(code, "model_nnx.py", "exec", dont_inherit=True)


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- places


def test_attribute_targets_are_places_not_values():
    """``self.device = d`` on a plain object stayed ``None = d`` (the
    Tensor.device row applied by name): the class went back to its source."""
    result = translate("""
        import torch

        class Loader:
            def __init__(self, loader, device=torch.device('cuda')):
                self.loader = loader
                self.device = device
                self.is_cuda = device.type == 'cuda'
                self.img_dtype = torch.float32

            def __iter__(self):
                for x in self.loader:
                    yield x.to(self.device), self.device
    """)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    assert "self.device = device" in result.code
    assert "self.is_cuda = device.type == " in result.code
    assert "yield x, self.device" in result.code


def test_tensor_property_still_reads_a_tensor():
    result = translate("""
        class M(nn.Module):
            def forward(self, x):
                device = x.device
                return torch.zeros(3, device=x.device) + x
    """, HEADER)
    compiles_cleanly(result.code)
    assert 'device = TorchDevice()' in result.code


def test_plain_attribute_named_like_a_tensor_property_parity(tmp_path):
    source = HEADER + textwrap.dedent("""
        class Config:
            def __init__(self, device=None):
                self.device = device
                self.dtype = torch.float32
                self.data = [1.0, 2.0]

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.cfg = Config()
                self.scale = sum(self.cfg.data)
                self.device = None
                self.fc = nn.Linear(4, 3)

            def forward(self, x):
                self.device = x.device
                return self.fc(x.to(self.cfg.dtype)) * self.scale + torch.ones(3, device=self.device)
    """)
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert "T2N901" not in codes(result), result.code
    assert "sum(self.cfg.data)" in result.code  # an instance of a plain class is no tensor (Tensor.data)
    run_parity(result, tmod, jmod, wmod, "M", [rand(2, 4)])


def test_a_module_is_not_a_tensor():
    """``tf.device(...)``, and a function-local ``import torch`` then
    ``torch.device(d)`` / ``torch.cuda.device(d)``, became ``None(...)``."""
    result = translate("""
        from contextlib import contextmanager

        import tensorflow as tf
        import torch

        def preprocess(image):
            with tf.device('/cpu:0'):
                return image

        @contextmanager
        def on_device(device):
            import torch
            if isinstance(device, str):
                device = torch.device(device)
            with torch.cuda.device(device):
                yield
    """)
    compiles_cleanly(result.code)
    assert "None(" not in result.code, result.code
    assert "tf.device(" in result.code
    assert "torch.cuda.device(device)" in result.code


def test_a_stdlib_result_is_not_a_tensor():
    """``re.compile(...).sub(fn, s)`` is not Tensor.sub (which made
    ``p - s * lambda ...``: no Python at all)."""
    result = translate("""
        import re

        def checkpoint_filter_fn(state_dict, model):
            out = {}
            p_blocks = re.compile(r'pools\\.(\\d)\\.')
            for k, v in state_dict.items():
                k = p_blocks.sub(lambda exp: f'transformers.{int(exp.group(1)) + 1}.pool.', k)
                out[k] = v
            return out
    """, HEADER)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    assert "k = p_blocks.sub(lambda exp:" in result.code


def test_a_def_named_like_a_torch_import_is_a_definition():
    """timm's trace_utils: ``def _assert`` in the ``except`` of ``from torch
    import _assert`` became ``def (lambda ...)`` (a CSTValidationError)."""
    result = translate("""
        try:
            from torch import _assert
        except ImportError:
            def _assert(condition: bool, message: str):
                assert condition, message
    """)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    assert "def _assert(condition: bool, message: str):" in result.code


# ------------------------------------------------------------- mode flag

MODE = HEADER + textwrap.dedent("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def set_mode(self, mode: bool = True):
            self.training = mode
            return self

        def freeze(self):
            self.training = False

        def forward(self, x):
            y = self.fc(x)
            if self.training:
                return y * 2.0
            return y
""")


def test_assigning_the_mode_flag():
    """``self.training = mode`` became ``not self.deterministic = mode``."""
    result = translate(MODE)
    compiles_cleanly(result.code)
    assert "self.deterministic = not mode" in result.code
    assert "self.deterministic = True" in result.code
    assert "self.deterministic = False  #" in result.code  # built in training mode, like torch


def test_assigning_the_mode_flag_parity(tmp_path):
    result, tmod, jmod, wmod = translate_files(MODE, tmp_path)
    from flax import nnx

    import torch

    t = tmod.M()
    j = jmod.M(rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(j, t.state_dict())
    x = rand(2, 4)
    for mode in (False, True):
        t.set_mode(mode)
        j.set_mode(mode)
        with torch.no_grad():
            np.testing.assert_allclose(t(torch.from_numpy(x)).numpy(), np.asarray(j(x)), rtol=1e-5, atol=1e-5)
    t.freeze()
    j.freeze()
    np.testing.assert_allclose(t(torch.from_numpy(x)).detach().numpy(), np.asarray(j(x)), rtol=1e-5, atol=1e-5)
    j.train()  # Flax's own switch still drives the translated flag
    np.testing.assert_allclose(np.asarray(j(x)), 2.0 * np.asarray(j.fc(x)), rtol=1e-5, atol=1e-5)
    run_parity(result, tmod, jmod, wmod, "M", [x], train=True)
    run_parity(result, tmod, jmod, wmod, "M", [x], train=False)


def test_the_flag_of_another_module_is_marked():
    result = translate("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def freeze(self):
                self.fc.training = False
                self.training += 1

            def forward(self, x):
                return self.fc(x)
    """, HEADER)
    compiles_cleanly(result.code)
    assert codes(result).count("T2N004") == 2, result.diagnostics
    assert "self.fc.training = False" in result.code
    assert result.code.count("TODO(torch2nnx): T2N004") == 2


def test_training_of_a_plain_object_is_an_attribute():
    result = translate("""
        import torch

        class Wrapped:
            def __init__(self, training):
                if training != self.training:
                    self.training = training
    """)
    compiles_cleanly(result.code)
    assert "self.training = training" in result.code
    assert "deterministic" not in result.code


# -------------------------------------------------------------- operands

OPERANDS = HEADER + textwrap.dedent("""
    class M(nn.Module):
        def forward(self, x, y, z):
            c = x.mean() > 0
            a = x.sub(y + z)
            b = torch.sub(x, y if c else z)
            d = torch.pow(x + 1, 2)
            e = torch.neg(x - y)
            g = torch.reshape(x + y, (-1,))
            h = x.add(y, alpha=z.shape[0] + 1)
            k = torch.matmul(x + y, z.transpose(0, 1))
            return a + b + d + e + g.reshape(x.shape) + h + k.sum()
""")


def test_argument_sources_keep_their_precedence(tmp_path):
    """``x.sub(y + z)`` was ``x - y + z``, ``torch.pow(x + 1, 2)`` was ``x + 1**2``."""
    result, tmod, jmod, wmod = translate_files(OPERANDS, tmp_path)
    assert "x - (y + z)" in result.code
    assert "(x + 1) ** 2" in result.code
    assert "-(x - y)" in result.code
    assert "(x + y).reshape(" in result.code
    assert "x.reshape(-1" not in result.code  # and no parentheses where none are needed:
    assert "((" not in result.code.replace("((-1,)", "")
    inputs = [rand(3, 3, seed=i) for i in range(3)]
    run_parity(result, tmod, jmod, wmod, "M", inputs)


def test_a_starred_argument_a_row_cannot_bind_is_marked():
    """gather_excite's ``nn.BatchNorm2d(channels, *dd)`` built ``epsilon=*dd``."""
    result = translate("""
        class M(nn.Module):
            def __init__(self, channels, device=None, dtype=None):
                super().__init__()
                dd = {'device': device, 'dtype': dtype}
                self.bn = nn.BatchNorm2d(channels, *dd)
                self.layers = nn.Sequential(*[nn.ReLU()])

            def forward(self, x):
                return self.layers(self.bn(x))
    """, HEADER)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    assert "T2N002" in codes(result)
    assert "TODO(torch2nnx): T2N002 torch.nn.BatchNorm2d: a starred argument (*dd)" in result.code
    assert "nnx.Sequential(" in result.code


def test_a_row_that_is_not_an_expression_used_as_a_value_is_marked():
    """timm's optimizer registry: ``OptimInfo(opt_class=torch.optim.Adam, ...)``.
    An optimizer row's translation is statements (an optax transformation and
    its state), not a value: the function holding it was left untranslated by a
    contained internal error (T2N901, a ParserSyntaxError on the generated code)."""
    result = translate("""
        OPTIMIZERS = dict(adam=torch.optim.Adam, sgd=torch.optim.SGD)
        act = torch.sigmoid
    """, HEADER)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    assert "TODO(torch2nnx): T2N004 torch.optim.Adam as a value" in result.code, result.code
    assert "act = lambda input: jax.nn.sigmoid(input)" in result.code, result.code


def test_a_drawing_method_called_where_no_rngs_exist_is_marked():
    """transformers' exporters: a plain class calls ``reset_parameters`` (a method
    taking ``rngs`` in this file) on the model it holds. There are no ``rngs`` to
    hand on: a T2N005 marker on the call, never a contained internal error."""
    result = translate("""
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def reset_parameters(self):
                nn.init.normal_(self.fc.weight)

            def forward(self, x):
                return self.fc(x)


        class Exporter:
            def __init__(self, model):
                self.model = model

            def reset(self):
                self.model.reset_parameters()
    """, HEADER)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    assert "# TODO(torch2nnx): T2N005 reset_parameters: random numbers outside" in result.code, result.code
    assert "self.fc.kernel" in result.code  # the class itself is translated


def test_a_drawing_function_called_where_no_rngs_exist_is_marked():
    """transformers' falcon / generation utils: a module-level function that
    draws random numbers called from a plain function of another kind (no
    module, no rngs): the call is marked T2N005, never a contained internal error."""
    result = translate("""
        def dropout_add(x, residual, prob, training):
            return residual + F.dropout(x, p=prob, training=training)


        class Sampler:
            def sample(self, x, r):
                return dropout_add(x, r, 0.1, training=True)
    """, HEADER)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    assert "T2N005" in codes(result), result.code


def test_a_device_read_inside_an_f_string_compiles():
    """transformers' generate(): ``f"... on {input_ids.device.type}"`` inside a
    double-quoted f-string; the device read needs no quotes of its own (before
    Python 3.12 they would end the string)."""
    result = translate("""
        class M:
            def check(self, x):
                return f"x is on {x.device.type}"
    """, HEADER)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    assert "{TorchDevice().type}" in result.code, result.code


def test_a_receiver_written_across_lines_is_rebuilt_valid():
    """transformers' higgs_audio processor: ``(tok.decode(x)\n    .audio_values.cpu()
    .squeeze())`` -- the receiver's source spans lines inside the statement's
    parentheses; rebuilt around a row's output it needs its own."""
    result = translate("""
        class P:
            def run(self, ids):
                out = (
                    self.tok.decode(ids.transpose(0, 1).unsqueeze(0))
                    .values.cpu()
                    .squeeze()
                )
                return out
    """, HEADER)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    assert "jnp.squeeze(" in result.code and ".cpu()" not in result.code, result.code


# ------------------------------------------------------------ ranks and shapes

MASKED_GROUP_NORM = HEADER + textwrap.dedent("""
    class MaskedGroupNorm(nn.GroupNorm):
        def forward(self, x, padding_mask=None):
            if padding_mask is None:
                return super().forward(x)
            batch_size, hidden_size, seq_len = x.shape
            grouped_shape = (batch_size, -1, hidden_size // self.num_groups, seq_len)
            x_grouped = x.view(grouped_shape)
            mean = x_grouped.mean(dim=(2, 3), keepdim=True)
            var = x_grouped.var(dim=(2, 3), keepdim=True, unbiased=False)
            x_norm = (x_grouped - mean) / torch.sqrt(var + self.eps)
            x_norm = x_norm.view(x.shape)
            x_norm = x_norm * self.weight.view(1, -1, 1) + self.bias.view(1, -1, 1)
            return x_norm * padding_mask


    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm = MaskedGroupNorm(2, c)
            self.proj = nn.Conv1d(c, c, 3, padding=1)

        def forward(self, x, padding_mask=None):
            return self.proj(self.norm(x, padding_mask=padding_mask))
""")


def test_a_group_norm_subclass_unpacking_rank_3_takes_frames(tmp_path):
    """transformers' pe_audio: a GroupNorm subclass over audio frames
    (``b, c, n = x.shape``). A GroupNorm subclass no caller tells takes images
    (rank 4) by default; its own unpacking fixes rank 3 (param_ranks.py).
    Before, the returns' layouts (rank 3 and 4) met: an internal error (T2N901),
    and the caller transposed the norm's output with (0, 1, 3)."""
    result, tmod, jmod, wmod = translate_files(MASKED_GROUP_NORM, tmp_path)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    assert result.layout_of("MaskedGroupNorm").takes["x"].perm == (0, 2, 1)
    x, mask = rand(2, 6, 5), (rand(2, 6, 5, seed=1) > 0).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Block", [x, mask], kwargs={"c": 6})
    run_parity(result, tmod, jmod, wmod, "Block", [x], kwargs={"c": 6})


SNAKE = HEADER + textwrap.dedent("""
    class Snake1d(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.alpha = nn.Parameter(torch.ones(1, dim, 1))

        def forward(self, h):
            shape = h.shape
            h = h.reshape(shape[0], shape[1], -1)
            h = h + 1.0 / (self.alpha + 1e-9) * torch.sin(self.alpha * h).pow(2)
            h = h.reshape(shape)
            return h


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(6, 6, 3, padding=1)
            self.act = Snake1d(6)
            self.conv2 = nn.Conv1d(6, 4, 3, padding=1)

        def forward(self, x):
            return self.conv2(self.act(self.conv1(x)))
""")


def test_a_shape_handed_whole_to_a_reshape_is_torch_order(tmp_path):
    """DAC's Snake1d (transformers' audio codecs): ``h.reshape(shape)`` with
    ``shape = h.shape`` read while ``h`` is channels-last. The tuple is in the
    physical order; the data reshaped is torch order: the sizes are read in
    torch's order (shape_values.py). Before, (N, L, C) sizes were laid over
    (N, C, L) data: wrong numbers unless C == L."""
    result, tmod, jmod, wmod = translate_files(SNAKE, tmp_path)
    compiles_cleanly(result.code)
    assert "T2N901" not in codes(result), result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 6, 5)])


def test_layouts_of_different_ranks_are_marked_not_transposed():
    """No transpose takes a rank-4 layout to a rank-3 one: when the analysis
    hands one where the other is wanted, the value is left as it is under a
    T2N005 marker, never a contained internal error or a wrong transpose."""
    from torch2nnx.translator import function_rewriter as body

    class Probe:
        def __init__(self):
            self.todos_seen = []
            self.f = None

        def todo(self, node, code_, message):
            self.todos_seen.append((code_, message))

    from torch2nnx.translator import layout as L
    import libcst as cst

    probe = Probe()
    node = cst.Name("x")
    out = body.FunctionRewriter.to_layout(probe, node, L.channels_last(4), L.channels_last(3), "why")
    assert out is node
    assert probe.todos_seen and probe.todos_seen[0][0] == "T2N005", probe.todos_seen


# ------------------------------------------------------------ decorations

DECORATED = HEADER + textwrap.dedent("""
    from timm.layers._fx import register_notrace_module


    @torch.jit.script
    def f1(x):
        return x + 1


    @torch.compile
    def f2(x):
        return x * 2


    @torch.compile(mode="max-autotune", fullgraph=True)
    def f3(x):
        return x * 3


    @torch.compiler.disable(recursive=False)
    def f4(x):
        return x


    @torch._dynamo.disable
    def f5(x):
        return x


    @torch.fx.wrap
    def f6(x):
        return x


    @torch.jit.ignore
    def f7(x):
        return x


    @torch.jit.unused
    def f8(x):
        return x


    torch.fx.wrap('f6')
    torch.jit.script(f2)
    f4 = torch.jit.script(f4)
    s1 = torch.jit.script(f1)
    s2 = torch.compile(f2, mode="reduce-overhead")
    s3 = torch.compile(mode="max")(f3)
    s4 = torch.jit.trace(f1, torch.ones(2))


    @torch.jit.script
    class Pair:
        def __init__(self, a: int):
            self.a = a


    @torch.jit.interface
    class Iface(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            pass


    @register_notrace_module
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        @torch.jit.script_method
        def scripted(self, x):
            return x

        @torch.jit.ignore(drop=True)
        def ignored(self, x):
            return x

        @torch.jit.export
        def exported(self, x):
            return x

        def forward(self, x):
            return s1(self.fc(x)) + s2(x) + s3(x) + f5(x) * Pair(2).a
""")


def test_torchscript_compile_and_tracing_decorations_go():
    result = translate(DECORATED)
    compiles_cleanly(result.code)
    assert result.todo_count == 0, [d.format() for d in result.diagnostics] + [result.code]
    assert "torch" not in result.code.replace("torch2nnx", "")
    assert "@" not in result.code, result.code
    assert "s1 = f1\n" in result.code and "s2 = f2\n" in result.code and "s3 = f3\n" in result.code
    assert "s4 = f1\n" in result.code
    assert "f4 = f4" not in result.code and "\nf2\n" not in result.code and "'f6'" not in result.code
    assert "class M(nnx.Module):" in result.code and "class Pair:" in result.code


# ------------------------------------------------------------------ census

SITE = {name: Path(importlib.util.find_spec(name).submodule_search_locations[0])
        for name in ("timm", "transformers") if importlib.util.find_spec(name) is not None}

TRANSFORMERS_FILES = (
    "quantizers/quantizers_utils.py", "activations.py", "pytorch_utils.py", "integrations/flex_attention.py",
    "modeling_layers.py", "models/bert/modeling_bert.py", "models/gpt2/modeling_gpt2.py",
    "models/vit/modeling_vit.py", "models/llama/modeling_llama.py", "models/clip/modeling_clip.py",
)


def census_subset() -> list[Path]:
    files = []
    if "timm" in SITE:
        files += sorted((SITE["timm"] / "layers").glob("*.py"))
        files += [SITE["timm"] / "data" / "loader.py", SITE["timm"] / "data" / "tf_preprocessing.py",
                  SITE["timm"] / "models" / "pit.py"]
    if "transformers" in SITE:
        files += [SITE["transformers"] / f for f in TRANSFORMERS_FILES]
    return [f for f in files if f.exists()]


@pytest.mark.skipif(not SITE, reason="neither timm nor transformers is installed")
def test_census_subset():
    """Every file of the subset translates: no internal error, every output
    compiles (without a SyntaxWarning its source lacks), and no statement
    left untranslated by a contained internal error (T2N901)."""
    files = census_subset()
    assert len(files) > 60
    rows = [census_file((f, 120)) for f in files]
    bad = [f"{r['path']}: {r['status']}: {r['error']}" for r in rows if r["status"] != "ok"]
    bad += [f"{r['path']}: T2N901 {m}" for r in rows for m in r.get("t2n901_messages", [])]
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------- layer subclasses


def test_subclass_of_a_function_layer_needs_no_rngs_and_refuses_what_it_cannot_do(tmp_path):
    """A subclass of a layer NNX keeps as a function subclasses a class generated
    from the row: built without rngs, torch's attributes, and a constructor
    argument the row cannot honour at run time (return_indices) raises."""
    from harness import translate_files

    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent("""
        class Pool(nn.MaxPool2d):
            pass

        class Act(nn.LeakyReLU):
            def __init__(self, slope):
                super().__init__(slope)

            def forward(self, x):
                return super().forward(x) * self.negative_slope
    """), tmp_path)
    assert "class Pool(TorchMaxPool2d)" in result.code and "class Act(TorchLeakyReLU)" in result.code
    assert not result.diagnostics, result.diagnostics
    pool = jmod.Pool(3, padding=1)
    assert (pool.kernel_size, pool.stride, pool.padding) == (3, 3, 1)  # torch's stride default
    with pytest.raises(NotImplementedError, match="return_indices"):
        jmod.Pool(2, return_indices=True)
    x = rand(2, 3, 7, 7)
    import jax.numpy as jnp
    import torch

    want = tmod.Pool(3, padding=1)(torch.from_numpy(x)).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(pool(jnp.asarray(x.transpose(0, 2, 3, 1)))), want, atol=1e-5)
    np.testing.assert_allclose(np.asarray(jmod.Act(0.2)(jnp.asarray(x))),
                               tmod.Act(0.2)(torch.from_numpy(x)).numpy(), atol=1e-5)


def test_a_builder_returning_a_block_of_an_unread_file_translates():
    """torchvision's ssdlite: a builder returns ``nn.Sequential(Block(...), nn.Conv2d(...))``
    where ``Block`` comes from a file outside the run (``from ...ops.misc import``):
    the layer the analysis could not type is not exported as the builder's
    return (it was an internal error: 'NoneType' object has no attribute 'kind')."""
    result = translate("""
        from ...ops.misc import Conv2dNormActivation


        def _prediction_block(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
            return nn.Sequential(
                Conv2dNormActivation(in_channels, in_channels, kernel_size=kernel_size, groups=in_channels),
                nn.Conv2d(in_channels, out_channels, 1),
            )


        class Head(nn.Module):
            def __init__(self, c=4):
                super().__init__()
                self.block = _prediction_block(c, 6, 3)

            def forward(self, x):
                return self.block(x)
    """, HEADER)
    compiles_cleanly(result.code)
    assert "nnx.Conv(" in result.code, result.code
