"""``[tool.torch2nnx]`` in pyproject.toml, found like black finds its own:
walking up from the working directory to the first pyproject.toml.

    [tool.torch2nnx]
    line-length = 88
    weights-suffix = "_weights"
    strict = false
    exclude = ["**/test_*.py"]
    rules = ["mypkg.torch2nnx_rules"]   # user rules modules (README "Rules users add")

    [tool.torch2nnx.paths]
    "src/models" = "src/models_nnx"            # directory -> mirrored tree
    "scripts/net.py" = "scripts/net_nnx.py"    # file -> file
    "zoo/*/model.py" = "{dir}/{stem}_nnx.py"   # glob -> one target per match

Paths are relative to the directory holding pyproject.toml. Options given on
the command line override the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

OUTPUT_FORMATS = ("concise", "json", "github")


class ConfigError(Exception):
    """pyproject.toml cannot be used; the message names the file and the key."""


@dataclass
class Config:
    root: Path | None = None  # the directory of pyproject.toml (paths are relative to it)
    path: Path | None = None  # pyproject.toml itself
    paths: dict[str, str] = field(default_factory=dict)  # source (file, dir or glob) -> target
    line_length: int = 88
    weights_suffix: str = "_weights"
    strict: bool = False
    exclude: list[str] = field(default_factory=list)
    output_format: str = "concise"
    rules: list[str] = field(default_factory=list)  # user rules modules (rules/user.py)


# key -> (attribute, expected type, check)
_KEYS = {
    "paths": ("paths", dict, lambda v: all(isinstance(k, str) and isinstance(t, str) and t for k, t in v.items())),
    "line-length": ("line_length", int, lambda v: v >= 1),
    "weights-suffix": ("weights_suffix", str, lambda v: bool(v) and not v.endswith(".py")),
    "strict": ("strict", bool, lambda v: True),
    "exclude": ("exclude", list, lambda v: all(isinstance(x, str) for x in v)),
    "output-format": ("output_format", str, lambda v: v in OUTPUT_FORMATS),
    "rules": ("rules", list, lambda v: all(isinstance(x, str) and x for x in v)),
}


def find_pyproject(start: Path | None = None) -> Path | None:
    """The first pyproject.toml in ``start`` or above it (stops at a .git/.hg root)."""
    d = (start or Path.cwd()).resolve()
    for cand in (d, *d.parents):
        if (cand / "pyproject.toml").is_file():
            return cand / "pyproject.toml"
        if (cand / ".git").exists() or (cand / ".hg").exists():
            return None
    return None


def load(path: Path | None = None, start: Path | None = None) -> Config:
    """The configuration in ``path`` (or the pyproject.toml found from
    ``start``); defaults when there is none or it has no [tool.torch2nnx]."""
    if path is None:
        path = find_pyproject(start)
        if path is None:
            return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    section = data.get("tool", {}).get("torch2nnx")
    cfg = Config(root=path.parent.resolve(), path=path)
    if section is None:
        return cfg
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.torch2nnx] must be a table")
    for key, value in section.items():
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise ConfigError(f"{path}: unknown key {key!r} in [tool.torch2nnx] (known: {known})")
        attr, typ, ok = _KEYS[key]
        # bool is an int in Python; line-length = true is still a mistake
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)) or not ok(value):
            raise ConfigError(f"{path}: invalid value for {key!r} in [tool.torch2nnx]: {value!r}")
        setattr(cfg, attr, dict(value) if typ is dict else value)
    return cfg
