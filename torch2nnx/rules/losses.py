"""Losses: ``torch.nn.functional`` loss functions and the ``torch.nn`` loss
modules (issue 16).

Each loss is one runtime function of runtime/losses.py with torch's
functional signature (names and defaults). The functional row calls it; the
module row binds the constructor's arguments with ``functools.partial``, so
``crit = nn.CrossEntropyLoss(label_smoothing=0.1)`` becomes a function
``crit(out, y)`` calls. The losses compute in torch's order (the class axis of
``cross_entropy`` is 1): a channels-last input is brought back to it first.
Legacy ``size_average`` / ``reduce`` are refused unless None.
"""

from .base import NOT_CONSTANT, Example, Layout, Rule, Unsupported
from .util import partial

LEGACY = ("size_average", "reduce")


def _kwargs(a, skip=()):
    """The given arguments other than the tensors, as keywords of the helper."""
    out = []
    for name, _, kind in a.spec:
        if name in skip or kind not in ("pos", "kwonly") or not a.given(name):
            continue
        if name in LEGACY:
            v = a.value(name)
            if v is NOT_CONSTANT or v is not None:
                raise Unsupported("T2N002", f"{name}= (deprecated; use reduction=)", param=name)
            continue
        out.append(f"{name}={a.src(name)}")
    return out


def _check_reduction(a, allowed=("mean", "sum", "none")):
    r = a.value("reduction")
    if r is not NOT_CONSTANT and r not in allowed:
        raise Unsupported("T2N002", f"reduction={a.src('reduction')}")


def functional(helper, tensors):
    def build(a, ctx):
        _check_reduction(a, ("mean", "sum", "none", "batchmean"))
        args = [a.src(t) for t in tensors] + _kwargs(a, skip=tensors)
        return f"{ctx.helper(helper)}({', '.join(args)})"
    return build


def module(helper):
    def build(a, ctx):
        _check_reduction(a, ("mean", "sum", "none", "batchmean"))
        return partial(ctx.helper(helper), _kwargs(a))
    return build


# (functional name = the helper's name, module name, the call's tensors, the
# options the module and the function share ("|" before options only the
# function has), examples of the function, examples of the module)
F32 = "float32[4,5]"
PAIR = (F32, F32)

_TABLE = [
    ("cross_entropy", "CrossEntropyLoss", ("input", "target"),
     "weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean', label_smoothing=0.0",
     (Example("F.cross_entropy(x, y)", (F32, "int32[4]:0:5")),
      Example("F.cross_entropy(x, y, ignore_index=-1)", ("float32[6,5]", "int32[6]:-1:5")),
      Example("F.cross_entropy(x, y, weight=torch.arange(1.0, 6.0), ignore_index=2, label_smoothing=0.2)",
              ("float32[8,5]", "int32[8]:0:5")),
      Example("F.cross_entropy(x, y, reduction='none', label_smoothing=0.1)", (F32, "int32[4]:0:5")),
      Example("F.cross_entropy(x, y.softmax(1), weight=torch.arange(1.0, 6.0), label_smoothing=0.3)", PAIR),
      # (N, C, H, W) logits from a convolution (channels-last in NNX), (N, H, W) targets
      Example("F.cross_entropy(x, y, reduction='sum')", ("float32[2,3,4,4]", "int32[2,4,4]:0:3"),
              channels_last=True)),
     (Example("nn.CrossEntropyLoss(label_smoothing=0.1)", (F32, "int32[4]:0:5"), call="self.layer(x, y)"),
      Example("nn.CrossEntropyLoss(ignore_index=0, reduction='sum')", ("float32[2,3,6]", "int32[2,6]:0:3"),
              call="self.layer(x, y)", channels_last=True))),
    ("nll_loss", "NLLLoss", ("input", "target"),
     "weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean'",
     (Example("F.nll_loss(x.log_softmax(1), y, weight=torch.arange(1.0, 6.0))", (F32, "int32[4]:0:5")),
      Example("F.nll_loss(x, y, ignore_index=1, reduction='none')", ("float32[2,3,4]", "int32[2,4]:0:3"))),
     (Example("nn.NLLLoss(ignore_index=2)", ("float32[6,5]", "int32[6]:0:5"), call="self.layer(x, y)"),)),
    ("mse_loss", "MSELoss", ("input", "target"), "size_average=None, reduce=None, reduction='mean'|, weight=None",
     (Example("F.mse_loss(x, y)", ("float32[3,4]", "float32[3,4]")),
      Example("F.mse_loss(x, y, weight=y.abs())", ("float32[3,4]", "float32[3,4]")),
      Example("F.mse_loss(x, y, reduction='none')", ("float32[3,4]", "float32[3,4]"))),
     (Example("nn.MSELoss(reduction='sum')", PAIR, call="self.layer(x, y)"),)),
    ("l1_loss", "L1Loss", ("input", "target"), "size_average=None, reduce=None, reduction='mean'|, weight=None",
     (Example("F.l1_loss(x, y, reduction='sum')", ("float32[3,4]", "float32[3,4]")),
      Example("F.l1_loss(x, y, weight=y.abs())", ("float32[3,4]", "float32[3,4]"))),
     (Example("nn.L1Loss()", PAIR, call="self.layer(x, y)"),)),
    ("smooth_l1_loss", "SmoothL1Loss", ("input", "target"),
     "size_average=None, reduce=None, reduction='mean', beta=1.0",
     (Example("F.smooth_l1_loss(x * 2, y, beta=0.5)", PAIR),),
     (Example("nn.SmoothL1Loss()", PAIR, call="self.layer(x * 2, y)"),)),
    ("huber_loss", "HuberLoss", ("input", "target"), "reduction='mean', delta=1.0|, weight=None",
     (Example("F.huber_loss(x * 2, y, delta=0.7)", PAIR),
      Example("F.huber_loss(x * 2, y, weight=y.abs())", PAIR)),
     (Example("nn.HuberLoss(reduction='none', delta=1.5)", PAIR, call="self.layer(x * 2, y)"),)),
    ("binary_cross_entropy", "BCELoss", ("input", "target"),
     "weight=None, size_average=None, reduce=None, reduction='mean'",
     (Example("F.binary_cross_entropy(x.sigmoid(), y.sigmoid(), weight=torch.arange(1.0, 6.0))", PAIR),),
     (Example("nn.BCELoss()", PAIR, call="self.layer(x.sigmoid(), (y > 0).float())"),)),
    ("binary_cross_entropy_with_logits", "BCEWithLogitsLoss", ("input", "target"),
     "weight=None, size_average=None, reduce=None, reduction='mean', pos_weight=None",
     (Example("F.binary_cross_entropy_with_logits(x * 3, y.sigmoid(), pos_weight=torch.arange(1.0, 6.0))", PAIR),),
     (Example("nn.BCEWithLogitsLoss(reduction='sum')", PAIR, call="self.layer(x * 3, (y > 0).float())"),)),
    ("kl_div", "KLDivLoss", ("input", "target"), "size_average=None, reduce=None, reduction='mean', log_target=False",
     (Example("F.kl_div(x.log_softmax(-1), y.softmax(-1), reduction='batchmean')", PAIR),
      Example("F.kl_div(x.log_softmax(-1), y.log_softmax(-1), log_target=True)", PAIR)),
     (Example("nn.KLDivLoss(reduction='batchmean')", PAIR, call="self.layer(x.log_softmax(-1), y.softmax(-1))"),)),
    ("cosine_embedding_loss", "CosineEmbeddingLoss", ("input1", "input2", "target"),
     "margin=0.0, size_average=None, reduce=None, reduction='mean'",
     (Example("F.cosine_embedding_loss(x, y, torch.tensor([1, -1, 1, -1]), margin=0.2)", PAIR),),
     (Example("nn.CosineEmbeddingLoss(margin=-0.5)", PAIR, call="self.layer(x, y, torch.tensor([1, -1, -1, 1]))"),)),
    ("ctc_loss", "CTCLoss", ("log_probs", "targets", "input_lengths", "target_lengths"),
     "blank=0, reduction='mean', zero_infinity=False",
     (Example("F.ctc_loss(x.log_softmax(2), y, torch.tensor([8, 6]), torch.tensor([3, 2]))",
              ("float32[8,2,5]", "int32[2,3]:1:5")),
      Example("F.ctc_loss(x.log_softmax(2), y.flatten()[:5], torch.tensor([8, 7]), torch.tensor([3, 2]), "
              "reduction='sum')", ("float32[8,2,5]", "int32[2,3]:1:5")),
      Example("F.ctc_loss(x.log_softmax(1), y, torch.tensor(7), torch.tensor(3), blank=4, reduction='none')",
              ("float32[7,5]", "int32[3]:0:4"))),
     (Example("nn.CTCLoss(blank=0, zero_infinity=True)", ("float32[8,2,5]", "int32[2,3]:1:5"),
              call="self.layer(x.log_softmax(2), y, torch.tensor([8, 8]), torch.tensor([3, 1]))"),)),
    ("margin_ranking_loss", "MarginRankingLoss", ("input1", "input2", "target"),
     "margin=0.0, size_average=None, reduce=None, reduction='mean'",
     (Example("F.margin_ranking_loss(x[:, 0], y[:, 0], torch.tensor([1.0, -1.0, 1.0, -1.0]), margin=0.1)", PAIR),),
     (Example("nn.MarginRankingLoss(margin=0.3)", PAIR,
              call="self.layer(x[:, 0], y[:, 0], torch.tensor([1.0, -1.0, -1.0, 1.0]))"),)),
]


def _rows():
    rows = []
    for fname, cname, tensors, options, f_examples, m_examples in _TABLE:
        layout = Layout("plain", tensors=tensors)
        options, _, f_extra = options.partition("|")  # the function's own options after "|"
        rows.append(Rule(f"torch.nn.functional.{fname}", ", ".join(tensors) + ", " + options + f_extra,
                         functional(fname, tensors), layout=layout, examples=f_examples,
                         note="torch's formula (runtime/losses.py)"))
        rows.append(Rule(f"torch.nn.{cname}", options, module(fname), layout=layout, layer=True,
                         examples=m_examples, note=f"a function: functools.partial({fname}, ...)"))
    return rows


RULES = _rows()

# the losses' examples, for the value-and-gradient tests (tests/test_losses.py)
LOSS_NAMES = tuple(r.name for r in RULES)
