"""Rows users add (rules/user.py): the worked example of README "Rules users
add" (tests/user_rules_pkg: mylib's ScaledLinear layer and fused_gelu_bias op,
with mylib_rules.py declaring their rows) translated, loaded and run against
torch; ``rules --check``; the config key, the CLI flag, the errors; the cache key."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from harness import perturb, translate_files
from torch2nnx.cli import main
from torch2nnx.rules import registry

torch.set_num_threads(1)

PKG = Path(__file__).parent / "user_rules_pkg"


@pytest.fixture
def user_rules(monkeypatch):
    """mylib_rules in use, the package importable (as a user's project root is)."""
    monkeypatch.syspath_prepend(str(PKG))
    with registry.user_rules(["mylib_rules"], PKG) as loaded:
        yield loaded


def _grads(j_model, x, g):
    """d(sum(out * g))/d(params, x) of the NNX model: (grads State, input grad)."""
    import jax.numpy as jnp
    from flax import nnx

    def loss(m, x):
        return jnp.sum(m(x) * g)

    return nnx.grad(loss, argnums=(0, 1))(j_model, x)


def test_model_using_both_rows_matches_torch(user_rules, tmp_path):
    """model.py (ScaledLinear + fused_gelu_bias + built-in layers): no TODO, the
    weights load strictly, outputs and gradients (parameters and input) match
    torch with perturbed weights, eagerly and under nnx.jit."""
    import jax.numpy as jnp
    from flax import nnx

    source = (PKG / "model.py").read_text()
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert result.todo_count == 0 and "TODO(torch2nnx)" not in result.code, result.code
    assert "from mylib_jax import ScaledLinear" in result.code
    assert "fused_gelu_bias(self.up(x), self.bias)" in result.code
    assert "import mylib\n" not in result.code and "from mylib." not in result.code  # the torch library is gone
    assert "NAMED_LAYERS = {\n    \"ScaledLinear\"" in result.weights_code

    t_model = tmod.Net()
    perturb(t_model, 0)
    j_model = jmod.Net(rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    keys = {k for k, *_ in wmod.torch_key_map(j_model)}
    assert keys == set(t_model.state_dict()), keys

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    g = rng.standard_normal((4, 5, 3)).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_(True)
    out = t_model(xt)
    (out * torch.from_numpy(g)).sum().backward()
    ref = out.detach().numpy()

    np.testing.assert_allclose(np.asarray(j_model(jnp.asarray(x))), ref, rtol=1e-4, atol=1e-4)
    jitted = nnx.jit(lambda m, v: m(v))(j_model, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(jitted), ref, rtol=1e-4, atol=1e-4)

    t_grads = {k: p.grad.numpy() for k, p in t_model.named_parameters()}
    path_of = {id(v): path for path, v in nnx.iter_graph(j_model) if isinstance(v, nnx.Param)}
    for grad_fn in (_grads, nnx.jit(_grads)):
        grads, gx = grad_fn(j_model, jnp.asarray(x), jnp.asarray(g))
        np.testing.assert_allclose(np.asarray(gx), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
        flat = dict(nnx.to_flat_state(grads))
        checked = 0
        for key, var, transform, _ in wmod.torch_key_map(j_model):
            want = t_grads[key] if transform is None else transform(t_grads[key])
            got = flat[path_of[id(var)]]
            np.testing.assert_allclose(np.asarray(got.get_value() if hasattr(got, "get_value") else got), want,
                                       rtol=1e-4, atol=1e-4, err_msg=key)
            checked += 1
        assert checked == len(t_grads) == 7  # up.weight/bias, bias, norm.weight/bias, down.weight/bias


def test_user_rows_are_in_the_tables_only_while_in_use(user_rules):
    row = registry.lookup("mylib.layers.ScaledLinear")
    assert row is not None and registry.is_user_row(row) and registry.user_origin(row) == "mylib_rules"
    assert registry.user_spec() == (("mylib_rules",), str(PKG.resolve()))
    with registry.user_rules(()):
        assert registry.lookup("mylib.layers.ScaledLinear") is None
    assert registry.lookup("mylib.layers.ScaledLinear") is row


def test_no_user_rules_leaves_the_tables_alone():
    assert registry.lookup("mylib.layers.ScaledLinear") is None
    assert registry.current_user_rules().modules == ()


def _project(tmp_path: Path, rules_line: str | None = 'rules = ["mylib_rules"]') -> Path:
    """A copy of the user's project (so outputs and caches stay in tmp)."""
    root = tmp_path / "proj"
    shutil.copytree(PKG, root, ignore=shutil.ignore_patterns("__pycache__", "*_nnx*.py"))
    text = "[tool.torch2nnx]\n" + (rules_line + "\n" if rules_line else "")
    (root / "pyproject.toml").write_text(text)
    return root


def _cli(root: Path, *args, cache: Path | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, TORCH2NNX_CACHE_DIR=str(cache or root / ".cache"))
    return subprocess.run([sys.executable, "-m", "torch2nnx", *args], cwd=root, capture_output=True, text=True,
                          env=env)


@pytest.mark.parametrize("how", ["config", "flag"])
def test_translate_with_config_key_or_flag(tmp_path, how):
    root = _project(tmp_path, 'rules = ["mylib_rules"]' if how == "config" else None)
    args = ["translate", "model.py", "--strict"] + (["--rules", "mylib_rules"] if how == "flag" else [])
    p = _cli(root, *args)
    assert p.returncode == 0, p.stderr
    assert "0 TODOs" in p.stderr
    code = (root / "model_nnx.py").read_text()
    assert "from mylib_jax import ScaledLinear" in code and "TODO" not in code


def test_without_the_rules_the_calls_stay_untranslated(tmp_path):
    """The same file without user rules: mylib's calls are no torch names to the
    translator, so they are left as they are (the rows are what translates them)."""
    root = _project(tmp_path, None)
    p = _cli(root, "translate", "model.py")
    assert p.returncode == 0, p.stderr
    assert "mylib_jax" not in (root / "model_nnx.py").read_text()


def test_workers_see_the_user_rules(tmp_path):
    """A multi-file run in worker processes (a fork server that never loaded them)."""
    root = _project(tmp_path)
    for i in range(3):
        (root / f"model{i}.py").write_text((root / "model.py").read_text())
    p = _cli(root, "translate", "model.py", "model0.py", "model1.py", "model2.py", "--suffix", "_nnx", "-j", "2",
             "--strict")
    assert p.returncode == 0, p.stderr
    for i in range(3):
        assert "from mylib_jax import ScaledLinear" in (root / f"model{i}_nnx.py").read_text()


def test_cache_key_follows_the_user_rules(user_rules, tmp_path):
    from torch2nnx.cache import Cache

    with_rules = Cache(88, tmp_path).path
    with registry.user_rules(()):
        without = Cache(88, tmp_path).path
    assert with_rules != without
    # a changed row: another module of the same name
    changed = tmp_path / "changed"
    changed.mkdir()
    text = (PKG / "mylib_rules.py").read_text().replace('"x, b"', '"x, b, approximate=None"')
    (changed / "mylib_rules.py").write_text(text)
    sys.modules.pop("mylib_rules", None)
    try:
        with registry.user_rules(["mylib_rules"], changed):
            assert Cache(88, tmp_path).path not in (with_rules, without)
    finally:
        sys.modules.pop("mylib_rules", None)


def test_cache_is_not_reused_after_a_rule_changes(tmp_path):
    """End to end: translate, change the row's output, translate again: the file is rewritten."""
    root = _project(tmp_path)
    cache = tmp_path / "cache"
    assert _cli(root, "translate", "model.py", cache=cache).returncode == 0
    rules = root / "mylib_rules.py"
    rules.write_text(rules.read_text().replace('return f"{fn}({a.src(\'x\')}, {a.src(\'b\')})"',
                                               'return f"{fn}({a.src(\'x\')}, b={a.src(\'b\')})"'))
    p = _cli(root, "translate", "model.py", cache=cache)
    assert p.returncode == 0, p.stderr
    assert "fused_gelu_bias(self.up(x), b=self.bias)" in (root / "model_nnx.py").read_text()


def test_rules_check_passes(tmp_path):
    root = _project(tmp_path)
    p = _cli(root, "rules", "--check")
    assert p.returncode == 0, p.stderr
    assert "3 examples of 2 user rows (mylib_rules): 3 passed, 0 failed." in p.stdout


WRONG = '''
from torch2nnx.rules.base import PLAIN, PLAIN_SAME_RANK, Example, Rule, wmap


def _wrong_op(a, ctx):
    return f"jax.nn.relu({a.src('x')} + {a.src('b')})"  # not gelu


def _layer(a, ctx):
    cls = ctx.import_name("mylib_jax", "ScaledLinear")
    return f"{cls}({a.src('in_f')}, {a.src('out_f')}, {a.src('scale')}, rngs={ctx.rngs})"


RULES = [
    Rule("mylib.ops.other_op", "x", _wrong_op),  # no examples: nothing would say it works
    Rule("mylib.ops.fused_gelu_bias", "x, b", _wrong_op, layout=PLAIN,
         examples=(Example("mylib.ops.fused_gelu_bias(x, y)", ("float32[2,5]", "float32[5]")),)),
    # the weight copied without its transpose: a square layer loads, and computes x @ W
    Rule("mylib.layers.ScaledLinear", "in_f, out_f, scale=1.0", _layer, layout=PLAIN_SAME_RANK, layer=True,
         stateful=True, weights=wmap("ScaledLinear", ("weight", "kernel"), ("bias", "bias")),
         examples=(Example("mylib.layers.ScaledLinear(4, 4, 2.0)", ("float32[2,4]",)),)),
]
'''


def test_rules_check_fails_on_a_wrong_row(tmp_path):
    root = _project(tmp_path, 'rules = ["wrong_rules"]')
    (root / "wrong_rules.py").write_text(WRONG)
    p = _cli(root, "rules", "--check")
    assert p.returncode == 1, p.stdout + p.stderr
    fails = [line for line in p.stderr.splitlines() if line.startswith("FAIL ")]
    assert fails[0] == "FAIL mylib.ops.other_op: the row has no examples", p.stderr
    fails = fails[1:]
    assert len(fails) == 2, p.stderr
    assert fails[0].startswith("FAIL mylib.ops.fused_gelu_bias example 0 (mylib.ops.fused_gelu_bias(x, y)): "
                               "AssertionError: "), fails
    assert fails[1].startswith("FAIL mylib.layers.ScaledLinear example 0 (mylib.layers.ScaledLinear(4, 4, 2.0)): ")
    assert all("Max absolute difference" in f for f in fails), fails
    assert "0 passed, 2 failed." in p.stdout


def test_rules_check_needs_user_rules(tmp_path):
    root = _project(tmp_path, None)
    p = _cli(root, "rules", "--check")
    assert p.returncode == 2 and "give --rules MODULE" in p.stderr


BAD_MODULES = {
    "no_rules": ("X = 1\n", "no RULES list"),
    "not_a_rule": ("RULES = [1]\n", "RULES[0] is a int, not a torch2nnx.rules.base.Rule"),
    "duplicate": ("from torch2nnx.rules.linear import RULES as _R\nRULES = [_R[-1]]\n",
                  "row 'torch.nn.Embedding' duplicates a built-in row"),
    "broken": ("import not_installed_anywhere\n", "cannot import it (ModuleNotFoundError"),
    "bad_transform": ("from torch2nnx.rules.base import Rule, wmap\n"
                      "RULES = [Rule('a.b.C', 'x', lambda a, c: 'x', layer=True,\n"
                      "              weights=wmap('C', ('w', 'k', 'nope')))]\n",
                      "weight transform 'nope' is not one of torch2nnx's"),
}


@pytest.mark.parametrize("name", sorted(BAD_MODULES))
def test_unusable_rules_module_is_a_usage_error(tmp_path, monkeypatch, name):
    text, message = BAD_MODULES[name]
    (tmp_path / f"{name}_rules.py").write_text(text)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["translate", "-", "--rules", f"{name}_rules"], input="import torch\n")
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: user rules {name}_rules: ") and message in lines[0], lines
    assert registry.current_user_rules().modules == ()  # nothing left behind


def test_missing_module_and_config_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["rules", "--rules", "nowhere_rules"])
    assert r.exit_code == 2 and "error: user rules nowhere_rules: cannot import it" in r.output
    (tmp_path / "pyproject.toml").write_text("[tool.torch2nnx]\nrules = \"mylib_rules\"\n")
    r = CliRunner().invoke(main, ["rules"])
    assert r.exit_code == 2 and "invalid value for 'rules'" in r.output


def test_coverage_counts_a_user_covered_api(tmp_path):
    root = _project(tmp_path)
    p = _cli(root, "coverage", "model.py", "--format", "json")
    assert p.returncode == 0, p.stderr
    import json

    apis = {a["name"]: a["supported"] for a in json.loads(p.stdout)["apis"]}
    assert apis["mylib.layers.ScaledLinear"] == "yes" and apis["mylib.ops.fused_gelu_bias"] == "yes", apis
    (root / "pyproject.toml").write_text("[tool.torch2nnx]\n")
    apis = {a["name"] for a in json.loads(_cli(root, "coverage", "model.py", "--format", "json").stdout)["apis"]}
    assert "mylib.layers.ScaledLinear" not in apis  # without the rows: not an API torch2nnx knows


def test_rules_table_marks_user_rows(tmp_path):
    root = _project(tmp_path)
    p = _cli(root, "rules", "--format", "text")
    assert "mylib.layers.ScaledLinear  # user row (mylib_rules)\n" in p.stdout
    p = _cli(root, "rules")
    line = next(x for x in p.stdout.splitlines() if x.startswith("| `mylib.ops.fused_gelu_bias`"))
    assert "→ `fused_gelu_bias(x, y)`" in line and "user row (mylib_rules)" in line


def test_unknown_name_of_a_user_module_is_marked(user_rules, tmp_path):
    """A name of mylib.layers no row knows: marked TODO, its import kept for it."""
    import torch2nnx

    src = textwrap.dedent("""
        import torch.nn as nn
        import mylib.ops
        from mylib.layers import Other, ScaledLinear


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = ScaledLinear(3, 4)
                self.b = Other(3)

            def forward(self, x):
                return mylib.ops.fused_gelu_bias(self.a(x), x) + mylib.ops.nope(x)
    """)
    r = torch2nnx.translate(src, "m.py")
    assert sorted(d.message for d in r.diagnostics if d.needs_todo) == [
        "mylib.layers.Other is not supported", "mylib.ops.nope is not supported"]
    assert "import mylib.ops\n" in r.code and "from mylib.layers import Other" in r.code
    compile(r.code, "m_nnx.py", "exec")


def test_readme_worked_example_is_the_fixture(user_rules):
    """README "Rules users add" shows the fixture's files and their translation as they are."""
    import re

    import torch2nnx

    readme = (PKG.parent.parent / "README.md").read_text()
    section = re.search(r"^## Rules users add\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", section, re.S | re.M)
    for name in ("mylib/layers.py", "mylib/ops.py", "mylib_jax.py", "mylib_rules.py", "model.py"):
        assert f"# {name}\n{(PKG / name).read_text()}" in blocks, f"README shows another {name}"
    code = torch2nnx.translate((PKG / "model.py").read_text(), "model.py", module_name="model_nnx").code
    assert code in blocks, "README shows another translation of model.py"


def test_verify_command_with_user_rules(tmp_path):
    root = _project(tmp_path)
    p = _cli(root, "verify", "model.py:Net", "--input", "float32[4,5,6]")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "(OK)" in p.stdout


METHOD_RULES = '''
from torch2nnx.rules.base import ELEMENTWISE, Example, Rule

RULES = []
METHODS = [
    Rule("Tensor.ldexp", "self, other", lambda a, ctx: f"({a.src('self')} * 2.0 ** {a.src('other')})",
         layout=ELEMENTWISE, examples=(Example("x.ldexp(y)", ("float32[2,5]", "float32[2,5]")),)),
]
'''


def test_a_tensor_method_row(tmp_path):
    """METHODS: a Tensor method torch2nnx has no row for, translated and checked."""
    root = _project(tmp_path, 'rules = ["method_rules"]')
    (root / "method_rules.py").write_text(METHOD_RULES)
    (root / "m.py").write_text("import torch.nn as nn\n\n\nclass M(nn.Module):\n"
                               "    def forward(self, x, y):\n        return x.ldexp(y)\n")
    p = _cli(root, "translate", "m.py", "--strict")
    assert p.returncode == 0, p.stderr
    assert "return x * 2.0**y" in (root / "m_nnx.py").read_text()
    p = _cli(root, "rules", "--check")
    assert p.returncode == 0 and "1 passed, 0 failed." in p.stdout, p.stdout + p.stderr
    (root / "method_rules.py").write_text(METHOD_RULES.replace("Tensor.ldexp", "Tensor.hypot"))
    p = _cli(root, "rules", "--check")
    assert p.returncode == 2 and "row 'Tensor.hypot' duplicates a built-in row" in p.stderr


def test_covered_module_inside_the_package_is_not_followed(tmp_path):
    """mylib inside the model's own package, imported relatively: the rows translate
    its names, so the import goes and mylib/layers.py is not translated with the model."""
    root = tmp_path / "pk"
    (root / "proj" / "mylib").mkdir(parents=True)
    (root / "proj" / "__init__.py").write_text("")
    (root / "proj" / "mylib" / "__init__.py").write_text("")
    shutil.copy(PKG / "mylib" / "layers.py", root / "proj" / "mylib" / "layers.py")
    shutil.copy(PKG / "mylib_jax.py", root / "mylib_jax.py")
    shutil.copytree(PKG / "mylib", root / "mylib", ignore=shutil.ignore_patterns("__pycache__"))  # the op's row
    (root / "prules.py").write_text((PKG / "mylib_rules.py").read_text().replace('"mylib.layers.', '"proj.mylib.layers.'))
    (root / "proj" / "model.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        from .mylib.layers import ScaledLinear


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.up = ScaledLinear(6, 4, scale=0.5)

            def forward(self, x):
                return self.up(x)
    """))
    p = _cli(root, "translate", "proj/model.py", "--rules", "prules", "--strict")
    assert p.returncode == 0, p.stderr
    code = (root / "proj" / "model_nnx.py").read_text()
    assert "mylib.layers" not in code and "ScaledLinear(6, 4, 0.5, rngs=rngs)" in code, code
    assert not (root / "proj" / "mylib" / "layers_nnx.py").exists()
    p = _cli(root, "rules", "--check", "--rules", "prules")
    assert p.returncode == 0, p.stdout + p.stderr
