"""``torch2nnx rules`` and the ``--rules MODULE`` option of the commands that
translate: the rows users add (rules/user.py).

Every command that translates (translate, verify, coverage, convert, rules)
loads the user rules named in ``[tool.torch2nnx] rules`` and by ``--rules``
before it starts; a module that cannot be used ends it with one line on
stderr and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

EXIT_USAGE = 2


def rules_option(fn):
    """``--rules MODULE`` (repeatable), after those of pyproject.toml."""
    return click.option("--rules", "user_rules", multiple=True, metavar="MODULE",
                        help="A module of user rule rows (RULES, and METHODS for Tensor methods), imported with "
                             "the project root and the working directory on sys.path; repeatable, added to "
                             "[tool.torch2nnx] rules.")(fn)


def use_rules(cfg, flags) -> tuple[str, ...]:
    """Load the user rules of ``cfg`` (a config.Config) and ``flags`` for this
    command; they are dropped again when it ends. The project root and the
    working directory stay on sys.path meanwhile: translations a command
    imports (verify, rules --check) import the rows' NNX code from there."""
    from .rules import registry
    from .rules.user import UserRulesError

    modules = tuple(cfg.rules) + tuple(flags)
    try:
        loaded = registry.use_user_rules(modules, cfg.root)
    except UserRulesError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    if modules:
        added = [p for p in dict.fromkeys([str(cfg.root) if cfg.root else None, str(Path.cwd())])
                 if p and p not in sys.path]
        sys.path[:0] = added
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.call_on_close(lambda: _forget(added))
    return loaded.modules


def _forget(added: list[str]) -> None:
    from .rules import registry

    registry.use_user_rules(())
    for p in added:
        if p in sys.path:
            sys.path.remove(p)


def config(path: str | None):
    from .config import ConfigError, load

    try:
        return load(Path(path) if path else None)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None


@click.command("rules")
@click.option("--format", "fmt", type=click.Choice(["markdown", "text"]), default="markdown", show_default=True,
              help="markdown: the supported-API table (as in README.md); text: the torch API names, one per line.")
@click.option("--check", is_flag=True,
              help="Run every user row's examples as the built-in rows' tests do (translation, expected text, "
                   "numeric parity with torch, the weights port of layer rows); exit 1 when one fails.")
@rules_option
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Read [tool.torch2nnx] from this file instead of the pyproject.toml found from the "
                   "working directory upwards.")
def rules_cmd(fmt: str, check: bool, user_rules: tuple[str, ...], config_path: str | None) -> None:
    """Print the torch APIs torch2nnx translates (user rows marked as such),
    or with --check test the user rows.

    The markdown table is the one README.md carries between its
    rules:start/rules:end markers; paste the output there after changing a rule.
    Exit codes: 0 ok, 1 --check found a failing example, 2 usage error.
    """
    modules = use_rules(config(config_path), user_rules)
    if check:
        if not modules:
            click.echo("error: rules --check tests user rows: give --rules MODULE or [tool.torch2nnx] rules",
                       err=True)
            raise SystemExit(EXIT_USAGE)
        raise SystemExit(_check())
    from .rules_table import markdown_table, text_list

    click.echo(markdown_table() if fmt == "markdown" else text_list(), nl=False)


def _check() -> int:
    import tempfile

    from .rules import registry
    from .rules.check import check_rows

    user = registry.current_user_rules()
    rows = list(user.calls) + list(user.methods)
    with tempfile.TemporaryDirectory(prefix="torch2nnx-rules-check-") as tmp:
        ran, failures = check_rows(rows, Path(tmp))
    for f in failures:
        click.echo(f"FAIL {f.line()}", err=True)
    failed = len({(f.rule, f.index) for f in failures if f.index >= 0})
    click.echo(f"{ran} examples of {len(rows)} user rows ({', '.join(user.modules)}): "
               f"{ran - failed} passed, {failed} failed.")
    return 1 if failures else 0
