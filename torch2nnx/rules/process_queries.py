"""torch queries and utilities with a meaning in one JAX process on the CPU.

Distribution: one process, rank ``jax.process_index()`` of ``jax.process_count()``
(0 of 1 here), no torch process group. CUDA: torch's device queries answer for
torch's CUDA, which the translation never uses (no device, none available).
Tracing: the translation is never traced by torch (no tracing state), and
``torch._shape_as_tensor`` is the shape as an array. torch.hub: its cache
directory, the URL and hash utilities it re-exports (plain Python), and
``load_state_dict_from_url``: a torch checkpoint, like every torch file the
translation reads (torch.load's translation, data_io.torch_load), is read with
torch's own reader, whose ``torch.serialization`` settings hold for it.

Eager only: ``torch.unique_consecutive`` (its size depends on the values).
"""

from .base import OTHER, Example, Layout, Rule
from .torch_only import unwrap
from .util import call


def _const(value):
    return lambda a, ctx: value


def _helper(name, params):
    def build(a, ctx):
        return call(ctx.helper(name), [a.src(p) if i == 0 else f"{p}={a.src(p)}"
                                       for i, p in enumerate(params) if i == 0 or a.given(p)])
    return build


def _cosine(a, ctx):
    parts = [a.src("x1"), a.src("x2")]
    parts += [f"{p}={a.src(p)}" for p in ("dim", "eps") if a.given(p)]
    return call(ctx.helper("cosine_similarity"), parts)


def _urlparse(a, ctx):
    fn = ctx.import_name("urllib.parse", "urlparse")
    return call(fn, [a.src("url")] + [f"{p}={a.src(p)}" for p in ("scheme", "allow_fragments") if a.given(p)])


def _hash_regex_search(a, ctx):
    return call(f"{ctx.helper('hub_hash_regex')}().search",
                [a.src("string")] + [a.src(p) for p in ("pos", "endpos") if a.given(p)])


def _torch_version() -> str:
    """torch.__version__ as torch's version.py writes it (a local tag too), read without importing torch."""
    import importlib.util
    import re
    from pathlib import Path

    from .base import Unsupported

    spec = importlib.util.find_spec("torch")
    path = Path(list(spec.submodule_search_locations)[0]) / "version.py" if spec and spec.submodule_search_locations \
        else None
    found = re.search(r"^__version__\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", path.read_text(), re.M) \
        if path is not None and path.is_file() else None
    if found is None:
        raise Unsupported("T2N001", "torch.__version__: torch is not installed where the translation runs")
    return found.group(1)


X = ("float32[2,3]",)
PAIR = ("float32[4,6,5]", "float32[4,6,5]")
_COS = Layout("dims", dims=("dim",), reduces=True, tensors=("x1", "x2"))
_COS_SIG = "x1, x2, dim=1, eps=1e-08"
_GUARD = "(torch.distributed.{0}() if torch.distributed.is_initialized() else {1})"

RULES = [
    Rule("torch.cosine_similarity", _COS_SIG, _cosine, layout=_COS,
         examples=(Example("torch.cosine_similarity(x, y, dim=-1)", PAIR),
                   Example("torch.cosine_similarity(x, y)", PAIR),
                   Example("torch.cosine_similarity(x, y, dim=1)", ("float32[2,3,4,4]", "float32[2,3,4,4]"),
                           channels_last=True),
                   Example("torch.cosine_similarity(x, y[:1], 2, 1e-6)", PAIR))),
    Rule("torch.nn.functional.cosine_similarity", _COS_SIG, _cosine, layout=_COS,
         examples=(Example("F.cosine_similarity(x, y, dim=2)", PAIR),)),
    Rule("torch.unique_consecutive", "input, return_inverse=False, return_counts=False, dim=None",
         _helper("unique_consecutive", ("input", "return_inverse", "return_counts", "dim")), layout=Layout("plain"),
         note="eager only: the size of the result depends on the values",
         examples=(Example("torch.unique_consecutive(x) * 1.0", ("int32[24]:0:3",)),
                   Example("torch.unique_consecutive(x.sum(1)).numel() * 1.0 + 0 * x", ("int32[5,4]:0:2",)),
                   Example("torch.unique_consecutive(x, return_inverse=True, return_counts=True)[2] * 1.0",
                           ("int32[4,6]:0:2",)),
                   Example("torch.unique_consecutive(x, return_inverse=True)[1] * 1.0", ("int32[4,6]:0:2",)))),
    Rule("torch._shape_as_tensor", "input", lambda a, ctx: f"jnp.asarray({a.src('input')}.shape)",
         layout=Layout("plain"),
         examples=(Example("torch._shape_as_tensor(x)[1].unsqueeze(0) * 1.0", ("float32[2,3,5]",)),
                   Example("torch._shape_as_tensor(x) * 1.0", ("float32[2,3,4,5]",)))),
    # torch's tracing: never in the translation
    Rule("torch._C._get_tracing_state", "", _const("None"), layout=OTHER,
         examples=(Example("x * 2.0 if torch._C._get_tracing_state() else x", X),
                   Example("x * float(torch._C._get_tracing_state() is None)", X))),
    Rule("torch.jit._script_if_tracing", "fn", unwrap("fn"), layout=OTHER,
         examples=(Example("torch.jit._script_if_tracing", X, where="function-decorator"),)),
    # one process: its rank and the world's size (the dedicated test compares under a
    # one-process torch group: torch refuses both without one)
    Rule("torch.distributed.get_rank", "group=None", _const("jax.process_index()"), layout=OTHER,
         note="jax.process_index(): 0 in a single process",
         examples=(Example("x + " + _GUARD.format("get_rank", 0), X, expect="jax.process_index()"),)),
    Rule("torch.distributed.get_world_size", "group=None", _const("jax.process_count()"), layout=OTHER,
         note="jax.process_count(): 1 in a single process",
         examples=(Example("x * " + _GUARD.format("get_world_size", 1), X, expect="jax.process_count()"),)),
    Rule("torch.distributed.is_initialized", "", _const("False"), layout=OTHER,
         note="no torch process group in the translation",
         examples=(Example("x * 2.0 if torch.distributed.is_initialized() else x", X),)),
    Rule("torch.distributed.is_available", "", _const("True"), layout=OTHER,
         note="as torch answers; no process group is ever initialized (is_initialized is False)",
         examples=(Example("x * float(torch.distributed.is_available())", X),)),
    # torch's CUDA: the translation never uses it
    Rule("torch.cuda.is_available", "", _const("False"), layout=OTHER,
         note="torch's CUDA: the translation never runs on it (JAX places arrays itself)",
         examples=(Example("x * 2.0 if torch.cuda.is_available() else x", X),)),
    Rule("torch.cuda.device_count", "", _const("0"), layout=OTHER,
         note="torch's CUDA devices: none for the translation",
         examples=(Example("x + torch.cuda.device_count()", X),)),
    Rule("torch.cuda.is_initialized", "", _const("False"), layout=OTHER,
         examples=(Example("x * 2.0 if torch.cuda.is_initialized() else x", X),)),
    # torch.hub's plain-Python utilities
    Rule("torch.hub.get_dir", "", lambda a, ctx: f"{ctx.helper('hub_dir')}()", layout=OTHER,
         note="$TORCH_HOME/hub as torch computes it (torch.hub.set_dir is not followed)",
         examples=(Example("x * len(torch.hub.get_dir())", X),
                   Example("x * float(torch.hub.get_dir().endswith('/torch/hub'))", X))),
    Rule("torch.hub.download_url_to_file", "url, dst, hash_prefix=None, progress=True",
         lambda a, ctx: call(ctx.helper("hub_download_url_to_file"), [a.src("url"), a.src("dst")] + [
             f"{p}={a.src(p)}" for p in ("hash_prefix", "progress") if a.given(p)]), layout=OTHER,
         note="urllib, as torch downloads (no progress bar)",
         examples=(Example("x * (torch.hub.download_url_to_file('file://' + collections.__file__, __file__ + '.dl', "
                           "progress=False) is None) * len(open(__file__ + '.dl').read())", X),
                   Example("x * (torch.hub.download_url_to_file('file://' + collections.__file__, __file__ + '.d2', "
                           "hash_prefix='') is None) * len(open(__file__ + '.d2').read())", X))),
    Rule("torch.hub.urlparse", "url, scheme='', allow_fragments=True", _urlparse, layout=OTHER,
         note="urllib.parse.urlparse, which torch.hub re-exports",
         examples=(Example("x * len(torch.hub.urlparse('https://h.org/a/resnet18-5c106cde.pth').path)", X,
                           expect="urlparse("),)),
    Rule("torch.hub.HASH_REGEX.search", "string, pos=0, endpos=9223372036854775807", _hash_regex_search,
         layout=OTHER, note="torch.hub's checkpoint-name hash pattern, -([a-f0-9]*)\\.",
         examples=(Example("x * len(torch.hub.HASH_REGEX.search('resnet18-5c106cde.pth').group(1))", X),
                   Example("x * float(torch.hub.HASH_REGEX.search('resnet18.pth') is None)", X))),
]

# torch.save({'w': torch.arange(3.0)}) as a data: URL, for the examples of the checkpoint reader's rows
_TINY_CHECKPOINT = "data:application/octet-stream;base64," + (
    "UEsDBAAACAgAAAAAAAAAAAAAAAAAAAAAAAAQABIAYXJjaGl2ZS9kYXRhLnBrbEZCDgBaWlpaWlpaWlpaWlpaWoACfXEAWAEAAAB3"
    "cQFjdG9yY2guX3V0aWxzCl9yZWJ1aWxkX3RlbnNvcl92MgpxAigoWAcAAABzdG9yYWdlcQNjdG9yY2gKRmxvYXRTdG9yYWdlCnEE"
    "WAEAAAAwcQVYAwAAAGNwdXEGSwN0cQdRSwBLA4VxCEsBhXEJiWNjb2xsZWN0aW9ucwpPcmRlcmVkRGljdApxCilScQt0cQxScQ1z"
    "LlBLBwhNR+MQogAAAKIAAABQSwMEAAAICAAAAAAAAAAAAAAAAAAAAAAAABcAGQBhcmNoaXZlLy5mb3JtYXRfdmVyc2lvbkZCFQBa"
    "WlpaWlpaWlpaWlpaWlpaWlpaWloxUEsHCLfv3IMBAAAAAQAAAFBLAwQAAAgIAAAAAAAAAAAAAAAAAAAAAAAAGgA3AGFyY2hpdmUv"
    "LnN0b3JhZ2VfYWxpZ25tZW50RkIzAFpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWjY0"
    "UEsHCD93cekCAAAAAgAAAFBLAwQAAAgIAAAAAAAAAAAAAAAAAAAAAAAAEQA/AGFyY2hpdmUvYnl0ZW9yZGVyRkI7AFpaWlpaWlpa"
    "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpabGl0dGxlUEsHCIU94xkGAAAABgAAAFBL"
    "AwQAAAgIAAAAAAAAAAAAAAAAAAAAAAAADgA+AGFyY2hpdmUvZGF0YS8wRkI6AFpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa"
    "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWloAAAAAAACAPwAAAEBQSwcIcLzIMAwAAAAMAAAAUEsDBAAACAgAAAAAAAAAAAAA"
    "AAAAAAAAAAAPADcAYXJjaGl2ZS92ZXJzaW9uRkIzAFpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa"
    "WlpaWlpaWjMKUEsHCNGeZ1UCAAAAAgAAAFBLAwQAAAgIAAAAAAAAAAAAAAAAAAAAAAAAHgAyAGFyY2hpdmUvLmRhdGEvc2VyaWFs"
    "aXphdGlvbl9pZEZCLgBaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaMTU3MjgxOTk1MTE4NTQ2"
    "NDMwMjYwMzM2NjA3NDI5ODAyODc4OTkyN1BLBwj24wpEKAAAACgAAABQSwECAAAAAAgIAAAAAAAATUfjEKIAAACiAAAAEAAAAAAA"
    "AAAAAAAAAAAAAAAAYXJjaGl2ZS9kYXRhLnBrbFBLAQIAAAAACAgAAAAAAAC379yDAQAAAAEAAAAXAAAAAAAAAAAAAAAAAPIAAABh"
    "cmNoaXZlLy5mb3JtYXRfdmVyc2lvblBLAQIAAAAACAgAAAAAAAA/d3HpAgAAAAIAAAAaAAAAAAAAAAAAAAAAAFEBAABhcmNoaXZl"
    "Ly5zdG9yYWdlX2FsaWdubWVudFBLAQIAAAAACAgAAAAAAACFPeMZBgAAAAYAAAARAAAAAAAAAAAAAAAAANIBAABhcmNoaXZlL2J5"
    "dGVvcmRlclBLAQIAAAAACAgAAAAAAABwvMgwDAAAAAwAAAAOAAAAAAAAAAAAAAAAAFYCAABhcmNoaXZlL2RhdGEvMFBLAQIAAAAA"
    "CAgAAAAAAADRnmdVAgAAAAIAAAAPAAAAAAAAAAAAAAAAANwCAABhcmNoaXZlL3ZlcnNpb25QSwECAAAAAAgIAAAAAAAA9uMKRCgA"
    "AAAoAAAAHgAAAAAAAAAAAAAAAABSAwAAYXJjaGl2ZS8uZGF0YS9zZXJpYWxpemF0aW9uX2lkUEsGBiwAAAAAAAAAHgMtAAAAAAAA"
    "AAAABwAAAAAAAAAHAAAAAAAAAM8BAAAAAAAA+AMAAAAAAABQSwYHAAAAAMcFAAAAAAAAAQAAAFBLBQYAAAAABwAHAM8BAAD4AwAA"
    "AAA="
)
# (the state_dict holds torch tensors, as torch_load's does: the weights module ports them)
_LOAD_URL = ("x * len(torch.hub.load_state_dict_from_url(" + repr(_TINY_CHECKPOINT) + ", model_dir=__file__ + "
             "'.hub', file_name='tiny-{}.pth', check_hash={})['w'].shape)")

RULES += [
    Rule("torch.hub.load_state_dict_from_url",
         "url, model_dir=None, map_location=None, progress=True, check_hash=False, file_name=None, weights_only=False",
         lambda a, ctx: call(ctx.helper("hub_load_state_dict_from_url"), [a.src("url")] + [
             f"{p}={a.src(p)}" for p in ("model_dir", "map_location", "progress", "check_hash", "file_name",
                                           "weights_only") if a.given(p)]), layout=OTHER,
         note="downloaded once into $TORCH_HOME/hub/checkpoints, read as torch.load's translation reads a torch "
              "file (with torch, tensors only): a state_dict for the weights module",
         examples=(Example("x * float(callable(torch.hub.load_state_dict_from_url))", X),
                   Example(_LOAD_URL.format("a", False), X),
                   Example(_LOAD_URL.format("4e330668", True), X))),
    # torch's checkpoint reader, which reads torch files for the translation too (torch_load)
    Rule("torch.serialization.safe_globals", "safe_globals",
         lambda a, ctx: f"{ctx.helper('torch_serialization')}().safe_globals({a.src('safe_globals')})",
         layout=OTHER, note="torch's reader's allow-list: torch files are read with torch (torch.load's translation)",
         examples=(Example("torch.serialization.safe_globals([collections.OrderedDict])", X, where="with"),)),
    Rule("torch.serialization.get_unsafe_globals_in_checkpoint", "f",
         lambda a, ctx: f"{ctx.helper('torch_serialization')}().get_unsafe_globals_in_checkpoint({a.src('f')})",
         layout=OTHER, note="as torch's reader finds them (torch files are read with torch)",
         examples=(Example("x * (len(torch.hub.load_state_dict_from_url(" + repr(_TINY_CHECKPOINT) + ", model_dir="
                           "__file__ + '.hub', file_name='t.pth')) + len(torch.serialization."
                           "get_unsafe_globals_in_checkpoint(__file__ + '.hub/t.pth')))", X),)),
]

# read as a value: the version of the torch the translation was made with (the semantics it reproduces)
CONSTANTS = [
    Rule("torch.serialization", "", lambda a, ctx: f"{ctx.helper('torch_serialization')}()", layout=OTHER,
         note="torch's checkpoint reader, which reads torch files for the translation too (torch.load's)",
         examples=(Example("x * float(hasattr(torch.serialization, 'safe_globals'))", X),)),
    Rule("torch.__version__", "", lambda a, ctx: f"{ctx.helper('TorchVersion')}({_torch_version()!r})", layout=OTHER,
         note="the version of the torch the translation was made with (the semantics it reproduces); compares "
              "as a version",
         examples=(Example("x * len(torch.__version__)", X),
                   Example("x * float(torch.__version__ >= '2.9') + float(torch.__version__ < (2, 100)) "
                           "+ float(torch.__version__ > '2.0.0rc1') + float(torch.__version__ == '1.13')", X),
                   Example("x * float(torch.__version__.split('+')[0].count('.'))", X))),
]
