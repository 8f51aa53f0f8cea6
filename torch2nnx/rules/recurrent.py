"""Recurrent layers (nnx_facts §10): nn.LSTM / nn.GRU / nn.RNN and their cells.

They become emitted helper modules (``TorchLSTM``, ``TorchGRU``, ...; see the
recurrent block of runtime/helpers.py) that keep torch's formulas, gate order
and parameter names and shapes: flax's GRUCell cannot represent torch's
``b_hn`` (trap 5), and keeping ``weight_ih_l0``, ``bias_hh_l1_reverse``, ...
as attributes lets the weights module port every configuration (layers,
directions, ``proj_size``, ``bias=False``) one to one, with no transform.
Outputs are plain (torch order) tensors: ``(output, (h_n, c_n))`` for LSTM,
``(output, h_n)`` for GRU and RNN, ``(h, c)`` for LSTMCell, ``h`` for the
other cells. PackedSequence inputs are kept padded (see below).
"""

from .base import NOT_CONSTANT, OTHER, PLAIN, Example, Rule, Unsupported, dims
from .util import call

_LSTM_SIG = ("input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, "
             "bidirectional=False, proj_size=0, device=None, dtype=None")
_GRU_SIG = ("input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, "
            "bidirectional=False, device=None, dtype=None")
_RNN_SIG = ("input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False, "
            "dropout=0.0, bidirectional=False, device=None, dtype=None")
_CELL_SIG = "input_size, hidden_size, bias=True, device=None, dtype=None"
_RNN_CELL_SIG = "input_size, hidden_size, bias=True, nonlinearity='tanh', device=None, dtype=None"

_OPTIONS = ("num_layers", "nonlinearity", "bias", "batch_first", "dropout", "bidirectional", "proj_size")


def _recurrent(helper):
    def build(a, ctx):
        # a dtype written out other than float32 is refused; one a variable holds (timm's `**dd`,
        # device=None, dtype=None) is dropped, as every layer drops torch's factory arguments
        if a.given("dtype") and not a.src("dtype").isidentifier() \
                and a.src("dtype") not in ("torch.float32", "torch.float"):
            raise Unsupported("T2N002", f"dtype={a.src('dtype')}: the recurrent helpers are float32")
        nl = a.value("nonlinearity", absent="tanh")  # not a literal: the helper checks it at run time
        if a.given("nonlinearity") and nl is not NOT_CONSTANT and nl not in ("tanh", "relu"):
            raise Unsupported("T2N002", f"nonlinearity={a.src('nonlinearity')} (torch allows 'tanh' or 'relu')")
        parts = [a.src("input_size"), a.src("hidden_size")]
        parts += [f"{n}={a.src(n)}" for n in _OPTIONS if a.given(n)]
        parts.append(f"rngs={ctx.rngs}")
        return call(ctx.helper(helper), parts)
    return build


_NOTE = ("weights keep torch's names and shapes, no transform (weight_ih_l0, weight_hh_l0, bias_ih_l0?, "
         "bias_hh_l0?, weight_hr_l0?, ..._reverse)")
_CELL_NOTE = "weights keep torch's names and shapes, no transform (weight_ih, weight_hh, bias_ih?, bias_hh?)"

RULES = [
    Rule("torch.nn.LSTM", _LSTM_SIG, _recurrent("TorchLSTM"), layout=PLAIN, layer=True, stateful=True,
         note="returns (output, (h_n, c_n)); " + _NOTE,
         examples=(
             Example("nn.LSTM(8, 16)", ("float32[5,2,8]",), expect="TorchLSTM(8, 16, rngs=rngs)"),
             Example("nn.LSTM(8, 16, num_layers=2, batch_first=True, dropout=0.2)", ("float32[2,5,8]",)),
             Example("nn.LSTM(8, 6, 2, batch_first=True, bidirectional=True)", ("float32[2,5,8]",)),
             Example("nn.LSTM(8, 6, batch_first=True, bias=False, proj_size=4)", ("float32[2,5,8]",)),
             Example("nn.LSTM(8, 6, 2, batch_first=True, bidirectional=True)",
                     ("float32[2,5,8]", "float32[4,2,6]", "float32[4,2,6]"), call="self.layer(x, (y, z))"),
             Example("nn.LSTM(8, 6)", ("float32[5,8]",)),  # unbatched
             Example("nn.LSTM(8, 6, batch_first=True)", ("float32[2,5,8]",), call="self.layer(x)[1][0]"),
             # packed input: the final states at each sequence's own length
             Example("nn.LSTM(8, 6, 2, batch_first=True, bidirectional=True)", ("float32[3,5,8]", "int32[3]:1:6"),
                     call="self.layer(torch.nn.utils.rnn.pack_padded_sequence(x, y, batch_first=True, "
                          "enforce_sorted=False))[1]"),
             # a channels-first (N, C, L) tensor read as (batch, time, features): back to torch order
             Example("nn.LSTM(8, 6, batch_first=True)", ("float32[2,3,8]",), channels_last=True, train=True),
         )),
    Rule("torch.nn.GRU", _GRU_SIG, _recurrent("TorchGRU"), layout=PLAIN, layer=True, stateful=True,
         note="exact for b_hn (nnx.GRUCell is not); " + _NOTE,
         examples=(
             Example("nn.GRU(8, 16, batch_first=True)", ("float32[2,5,8]",), train=True, expect="TorchGRU(8, 16, batch_first=True, rngs=rngs)"),
             Example("nn.GRU(8, 6, num_layers=3, bidirectional=True, dropout=0.1)", ("float32[5,2,8]",)),
             Example("nn.GRU(8, 6, 2, batch_first=True)", ("float32[2,5,8]", "float32[2,2,6]"), call="self.layer(x, y)"),
             Example("nn.GRU(8, 6, bias=False)", ("float32[5,2,8]",)),
             Example("nn.GRU(8, 6, bidirectional=True)", ("float32[5,3,8]", "int32[3]:1:6"),
                     call="torch.nn.utils.rnn.pad_packed_sequence(self.layer("
                          "torch.nn.utils.rnn.pack_padded_sequence(x, y, enforce_sorted=False))[0])[0]"),
         )),
    Rule("torch.nn.RNN", _RNN_SIG, _recurrent("TorchRNN"), layout=PLAIN, layer=True, stateful=True, note=_NOTE,
         examples=(
             Example("nn.RNN(8, 16)", ("float32[5,2,8]",), expect="TorchRNN(8, 16, rngs=rngs)"),
             Example("nn.RNN(8, 6, 2, 'relu', batch_first=True, bidirectional=True)", ("float32[2,5,8]",),
                     expect='nonlinearity="relu"'),
             Example("nn.RNN(8, 6, batch_first=True)", ("float32[2,5,8]", "float32[1,2,6]"), call="self.layer(x, y)"),
         )),
    Rule("torch.nn.LSTMCell", _CELL_SIG, _recurrent("TorchLSTMCell"), layout=PLAIN, layer=True, stateful=True,
         note="returns (h, c); " + _CELL_NOTE,
         examples=(
             Example("nn.LSTMCell(8, 6)", ("float32[3,8]",), expect="TorchLSTMCell(8, 6, rngs=rngs)"),
             Example("nn.LSTMCell(8, 6, bias=False)", ("float32[3,8]", "float32[3,6]", "float32[3,6]"),
                     call="self.layer(x, (y, z))"),
         )),
    Rule("torch.nn.GRUCell", _CELL_SIG, _recurrent("TorchGRUCell"), layout=PLAIN, layer=True, stateful=True,
         note="exact for b_hn; " + _CELL_NOTE,
         examples=(
             Example("nn.GRUCell(8, 6)", ("float32[3,8]",), expect="TorchGRUCell(8, 6, rngs=rngs)"),
             Example("nn.GRUCell(8, 6)", ("float32[3,8]", "float32[3,6]"), call="self.layer(x, y)"),
             Example("nn.GRUCell(8, 6)", ("float32[8]", "float32[6]"), call="self.layer(x, y)"),  # unbatched
         )),
    Rule("torch.nn.RNNCell", _RNN_CELL_SIG, _recurrent("TorchRNNCell"), layout=PLAIN, layer=True, stateful=True,
         note=_CELL_NOTE,
         examples=(
             Example("nn.RNNCell(8, 6)", ("float32[3,8]",), expect="TorchRNNCell(8, 6, rngs=rngs)"),
             Example("nn.RNNCell(8, 6, nonlinearity='relu')", ("float32[3,8]", "float32[3,6]"), call="self.layer(x, y)"),
         )),
]


# ---------------------------------------------------------------------------
# Sampling in generation loops: random numbers come from the module's own
# nnx.Rngs (kept as self.rngs), never from a global generator.


def _multinomial(a, ctx):
    if a.given("generator") and a.src("generator") != "None":
        raise Unsupported("T2N005", "a torch.Generator: draws come from the module's nnx.Rngs instead")
    parts = [ctx.module_rngs(), a.src("input"), a.src("num_samples")]
    if a.given("replacement"):
        parts.append(f"replacement={a.src('replacement')}")
    return call(ctx.helper("multinomial"), parts)


RULES.append(
    Rule("torch.multinomial", "input, num_samples, replacement=False, *, generator=None, out=None", _multinomial,
         layout=PLAIN,
         note="draws from the module's nnx.Rngs (the 'sample' stream, or 'default'); other random numbers than torch's",
         examples=(
             # a one-hot distribution: the draw is determined, so it compares exactly
             Example("torch.multinomial(F.one_hot(x, 6).float(), 1)", ("int32[4]:0:6",),
                     expect="multinomial(self.rngs, "),
             Example("torch.multinomial(F.softmax(x, dim=-1), 3)", ("float32[4,10]",), compare="shape"),
             Example("torch.multinomial(F.softmax(x, dim=-1), 5, replacement=True)", ("float32[3,10]",),
                     compare="shape"),
         )))


# ---------------------------------------------------------------------------
# Time loops over a sequence: for x_t in x.unbind(1). (MERGE NOTE: a general
# tensor op; if another branch adds unbind rows too, keep one pair.)


def _unbind(a, ctx):
    return f"jnp.unstack({a.src('input')}, axis={a.src('dim')})"


RULES.append(
    Rule("torch.unbind", "input, dim=0", _unbind, layout=dims("dim", reduces=True), returns_tuple=True,
         examples=(Example("torch.unbind(x, dim=1)[2]", ("float32[2,4,3]",)),
                   Example("torch.unbind(x)[1]", ("float32[3,4]",)))))



def _pad_sequence(a, ctx):
    parts = [a.src("sequences")]
    for name in ("batch_first", "padding_value", "padding_side"):
        if a.given(name):
            parts.append(f"{name}={a.src(name)}")
    return call(ctx.helper("pad_sequence"), parts)


RULES.append(
    Rule("torch.nn.utils.rnn.pad_sequence", "sequences, batch_first=False, padding_value=0.0, padding_side='right'",
         _pad_sequence, layout=PLAIN,
         examples=(Example("torch.nn.utils.rnn.pad_sequence([x, y], batch_first=True)", ("float32[3,4]", "float32[5,4]")),
                   Example("torch.nn.utils.rnn.pad_sequence([x, y, x], padding_value=-1.0, padding_side='left')",
                           ("float32[2]", "float32[4]")))))



# ---------------------------------------------------------------------------
# PackedSequence: kept padded (helpers.PackedSequence, time-major data plus
# lengths); the recurrent layers freeze each sequence's state past its length
# and output zeros there, the reverse direction runs each sequence backwards
# within its own length, as torch does on packed data.


def _kwargs(a, names):
    return [f"{n}={a.src(n)}" for n in names if a.given(n)]


def _pack_padded(a, ctx):
    parts = [a.src("input"), a.src("lengths")] + _kwargs(a, ("batch_first", "enforce_sorted"))
    return call(ctx.helper("pack_padded_sequence"), parts)


def _pad_packed(a, ctx):
    parts = [a.src("sequence")] + _kwargs(a, ("batch_first", "padding_value", "total_length"))
    return call(ctx.helper("pad_packed_sequence"), parts)


def _pack_sequence(a, ctx):
    return call(ctx.helper("pack_sequence"), [a.src("sequences")] + _kwargs(a, ("enforce_sorted",)))


_PACK = "torch.nn.utils.rnn.pack_padded_sequence(x, y, batch_first=True, enforce_sorted=False)"
_PACKED_NOTE = "kept padded (time-major data + lengths); the recurrent layers mask past each length"

RULES += [
    Rule("torch.nn.utils.rnn.pack_padded_sequence", "input, lengths, batch_first=False, enforce_sorted=True",
         _pack_padded, layout=PLAIN, note=_PACKED_NOTE,
         examples=(Example(f"torch.nn.utils.rnn.pad_packed_sequence({_PACK}, batch_first=True)[0]",
                           ("float32[3,5,4]", "int32[3]:1:6")),)),
    Rule("torch.nn.utils.rnn.pad_packed_sequence", "sequence, batch_first=False, padding_value=0.0, total_length=None",
         _pad_packed, layout=PLAIN, returns_tuple=True,
         note="without total_length the length is max(lengths): concrete lengths only (pass total_length under jit)",
         examples=(Example(f"torch.nn.utils.rnn.pad_packed_sequence({_PACK}, True, -1.0, 7)",
                           ("float32[3,5,4]", "int32[3]:1:6")),)),
    Rule("torch.nn.utils.rnn.pack_sequence", "sequences, enforce_sorted=True", _pack_sequence, layout=PLAIN,
         note=_PACKED_NOTE,
         examples=(Example("torch.nn.utils.rnn.pad_packed_sequence("
                           "torch.nn.utils.rnn.pack_sequence([x, y], enforce_sorted=False))[0]",
                           ("float32[3,4]", "float32[5,4]")),)),
]

# the method forms (registered with the Tensor methods)
METHODS = [
    Rule("Tensor.unbind", "input, dim=0", _unbind, layout=dims("dim", reduces=True), returns_tuple=True,
         examples=(Example("x.unbind(1)[3]", ("float32[2,5,3]",)),
                   Example("x.unbind(1)[0]", ("float32[2,3,4,5]",), channels_last=True),
                   Example("x.unbind(-1)[2]", ("float32[2,3,4,5]",), channels_last=True))),
    Rule("Tensor.multinomial", "input, num_samples, replacement=False, *, generator=None", _multinomial,
         layout=PLAIN, note="draws from the module's nnx.Rngs, as torch.multinomial",
         examples=(Example("F.one_hot(x, 5).float().multinomial(1)", ("int32[3]:0:5",)),)),
]


# ---------------------------------------------------------------------------
# The usual re-initialisation of recurrent weights (torch.nn.init, see init.py).


def _orthogonal(a, ctx):
    from .init import _fans_kept, _key, _set

    _fans_kept(a)  # the rows and columns of a slice that keeps the kernel's axes
    gain = a.src("gain") if a.given("gain") else "1.0"
    return _set(a, f"jax.nn.initializers.orthogonal({gain})({_key(ctx)}, {a.src('tensor')}.shape)", ctx)


RULES.append(
    Rule("torch.nn.init.orthogonal_", "tensor, gain=1, generator=None", _orthogonal, layout=OTHER,
         note="the same (Haar) distribution; torch flattens (out, in*k), JAX (k*in, out): one matrix transposed",
         examples=(Example("nn.init.orthogonal_(self.layer.weight)", (), compare="stats", where="nn.Linear(300, 200)"),
                   Example("nn.init.orthogonal_(self.layer.weight_hh_l0, gain=2.0)", (), compare="stats",
                           where="nn.LSTM(50, 60)"))))
