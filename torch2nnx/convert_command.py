"""``torch2nnx convert``: a torch checkpoint into an NNX checkpoint (the
library is :mod:`torch2nnx.checkpoints`; this only parses and reports).
Exit codes as the other commands: 0 ok, 1 the checkpoint does not fit the
model, 2 usage error, 123 the checkpoint or model cannot be read or built."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .api import ParseError
from .cli import EXIT_CANNOT_TRANSLATE, EXIT_OK, EXIT_TODOS, EXIT_USAGE, _plural, same_file
from .project import InputError
from .rules_command import config, rules_option, use_rules


@click.command("convert")
@click.argument("target", metavar="SRC:NAME")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(),
              help="Where to write the NNX checkpoint (an Orbax directory, or a .safetensors file).")
@click.option("--kwargs", "kwargs_json", default="{}", show_default=True,
              help="Constructor arguments as a JSON object, e.g. '{\"num_classes\": 10}'.")
@click.option("--format", "fmt", type=click.Choice(["orbax", "safetensors"]), default="orbax", show_default=True)
@click.option("--dtype", type=click.Choice(["bfloat16", "float16", "float32"]),
              help="Cast floating-point values to this dtype [default: the model's own].")
@click.option("--strip-prefix", help="Take this prefix off every checkpoint key that has it "
                                     "(module., model. and _orig_mod. on every key are recognised without it).")
@click.option("--strict/--no-strict", default=True, show_default=True,
              help="--no-strict: ignore unexpected keys; missing or mismatched ones keep the constructor's values.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@rules_option
def convert_cmd(target: str, checkpoint: str, out: str, kwargs_json: str, fmt: str, dtype: str | None,
                strip_prefix: str | None, strict: bool, force: bool, quiet: bool, user_rules: tuple[str, ...]) -> None:
    """Convert a torch CHECKPOINT for the model SRC:NAME into an NNX checkpoint.

    SRC:NAME names the torch class or builder function as verify does; the
    translation next to SRC is used, or one is made now. CHECKPOINT is a
    .pt/.pth/.bin file (a state_dict, or a dict holding one under
    state_dict/model/module; read with torch.load(weights_only=True), never
    running pickled code), a .safetensors file, or a sharded
    *.safetensors.index.json. Tensors are read and written one at a time into
    an abstract model. OUT appears whole or not at all.

    Exit codes: 0 ok, 1 the checkpoint does not fit the model (nothing
    written), 2 usage error (OUT exists without --force), 123 the checkpoint
    cannot be read safely or the model cannot be built.
    """

    from .checkpoints import CheckpointError, MismatchError, OutputExistsError, convert_checkpoint
    from .checkpoints.target import translated_model
    from .cli import model_arguments
    from .verify import VerifyError

    kwargs, path, name = model_arguments(kwargs_json, target, "SRC:NAME")
    use_rules(config(None), user_rules)  # the translation made now uses them
    o = Path(out)
    if o.exists() and not force:
        raise click.BadParameter(f"{out!r} exists; give --force to replace it", param_hint="'-o' / '--output'")
    if not o.absolute().parent.is_dir():
        raise click.BadParameter(f"{str(o.absolute().parent)!r} is not a directory", param_hint="'-o' / '--output'")
    if same_file(out, checkpoint):
        raise click.BadParameter(f"{out!r} is the input checkpoint", param_hint="'-o' / '--output'")
    bar = None

    def on_plan(p):
        nonlocal bar
        if not quiet and len(p.items) >= 50 and sys.stderr.isatty():
            bar = click.progressbar(length=len(p.items), label="converting", file=sys.stderr)
            bar.__enter__()

    try:
        with translated_model(path, name, kwargs) as (build, weights_module, where):
            done = convert_checkpoint(build, weights_module, checkpoint, o, fmt=fmt, dtype=dtype,
                                      strip_prefix=strip_prefix, strict=strict, force=force,
                                      progress=lambda n: bar.update(n) if bar else None, on_plan=on_plan)
    except MismatchError as e:
        click.echo(f"error: {checkpoint} does not fit {target}: {e}", err=True)
        raise SystemExit(EXIT_TODOS)
    except OutputExistsError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(EXIT_USAGE)
    except (CheckpointError, VerifyError, ParseError, InputError) as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(EXIT_CANNOT_TRANSLATE)
    except Exception as e:  # the model or its translation does not build: report, write nothing
        click.echo(f"error: cannot convert {checkpoint} for {target}: {type(e).__name__}: {e}", err=True)
        raise SystemExit(EXIT_CANNOT_TRANSLATE)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    p = done.plan
    if not strict and (p.missing or p.unexpected or p.mismatched):
        click.echo(f"warning: --no-strict: {p.problems()} (missing and mismatched keep the constructor's values)",
                   err=True)
    if not quiet:
        extra = f", {done.constructed} from the constructor" if done.constructed else ""
        prefix = f", prefix {p.stripped!r} taken off" if p.stripped else ""
        click.echo(f"converted {checkpoint} -> {out} ({fmt}, {where}): {_plural(done.tensors, 'tensor')}"
                   f"{extra}{prefix}, {done.nbytes / 2**20:.1f} MiB", err=True)
    raise SystemExit(EXIT_OK)
