"""transformers' model bases (modeling_utils.PreTrainedModel,
modeling_layers.GradientCheckpointingLayer) for translated modeling files.

``PreTrainedModel`` keeps what modeling code reads of it: ``config``,
``post_init()`` (which ties the weights torch ties), ``main_input_name``,
``base_model_prefix``, ``config_class`` and the input-embedding accessors.
``post_init()`` does not run ``_init_weights``: a translation gets its weights ported from torch (the
weights module), so torch's initial distributions are not redrawn (a freshly
built translation holds NNX's default initialisation). Copied into generated
files like helpers.py.
"""

import jax
import jax.numpy as jnp
from flax import nnx


class PreTrainedModel(nnx.Module):
    """transformers' PreTrainedModel, as an NNX module base (see the module docstring)."""

    config_class = None
    base_model_prefix = ""
    main_input_name = "input_ids"
    _input_embed_layer = "embed_tokens"
    supports_gradient_checkpointing = False

    def __init__(self, config, *inputs, rngs=None, **kwargs):
        self.config = config

    @classmethod
    def _from_config(cls, config, *, rngs=None, **kwargs):
        """A sub-model built from its configuration (CLIPModel's text and vision towers);
        torch's dtype and attention keywords have no meaning here."""
        return cls(config, rngs=rngs)

    def post_init(self):
        """torch's post_init initialises the weights (_init_weights over every module):
        a translation's weights are ported from torch, so nothing is redrawn here;
        ``init_weights(rngs)`` draws them as torch does. It ties them as torch does."""
        self.tie_weights()

    def tie_weights(self):
        """``_tied_weights_keys`` (target -> source, e.g. ``lm_head.weight`` -> the token
        embedding's) when the config says ``tie_word_embeddings``: the target reads the
        source's one nnx.Param (a linear head tied to an embedding: HFTiedLinear)."""
        config = self.config.get_text_config(decoder=True) if hasattr(self.config, "get_text_config") else self.config
        tied = getattr(type(self), "_tied_weights_keys", None)
        if not tied or not getattr(config, "tie_word_embeddings", False):
            return
        for target, source in dict(tied).items():
            (t_path, t_name), (s_path, s_name) = target.rpartition(".")[::2], source.rpartition(".")[::2]
            head, embed = hf_submodule(self, t_path), hf_submodule(self, s_path)
            if isinstance(head, nnx.Linear) and isinstance(embed, nnx.Embed) and t_name == s_name == "weight":
                hf_set_submodule(self, t_path, HFTiedLinear(embed.embedding, head.bias))
            elif isinstance(head, nnx.Embed) and isinstance(embed, nnx.Embed) and t_name == s_name == "weight":
                if head is not embed:  # T5's encoder/decoder token embeddings: the shared table's Param
                    head.embedding = embed.embedding
            elif type(head) is type(embed) and isinstance(getattr(head, t_name, None), nnx.Variable):
                setattr(head, t_name, getattr(embed, s_name))  # the same Variable, twice in the graph
            else:
                raise NotImplementedError(f"tying {target} to {source} ({type(head).__name__} to "
                                          f"{type(embed).__name__}) is not translated")

    def init_weights(self, rngs):
        """torch's weight initialisation: ``_init_weights`` on every module."""
        for _, module in nnx.iter_modules(self):
            self._init_weights(module, rngs=rngs)

    def _init_weights(self, module, *, rngs=None):
        """transformers' default: linear and conv kernels and embeddings drawn from
        N(0, initializer_range), biases zero, norms' scales one (no padding row: NNX's
        Embed does not record one)."""
        config = self.config
        std = getattr(config, "initializer_range", None) or getattr(config, "init_std", None) or 0.02
        if isinstance(module, (nnx.Linear, nnx.Conv, nnx.ConvTranspose, nnx.Embed)):
            for name in ("kernel", "embedding"):
                v = getattr(module, name, None)
                if isinstance(v, nnx.Variable):
                    v.set_value(std * jax.random.normal(rngs.params(), v.shape, v.dtype))
        elif isinstance(module, (nnx.LayerNorm, nnx.RMSNorm, nnx.GroupNorm, nnx.BatchNorm)) \
                or "LayerNorm" in type(module).__name__ or "RMSNorm" in type(module).__name__:
            if isinstance(getattr(module, "scale", None), nnx.Variable):
                module.scale.set_value(jnp.ones_like(module.scale.get_value()))
        else:
            return
        if isinstance(getattr(module, "bias", None), nnx.Variable):
            module.bias.set_value(jnp.zeros_like(module.bias.get_value()))

    @property
    def base_model(self):
        return getattr(self, self.base_model_prefix, self)

    def get_input_embeddings(self):
        base = self.base_model
        if base is not self:
            return base.get_input_embeddings()
        layer = getattr(self, self._input_embed_layer, None)
        if layer is None:
            embeddings = getattr(self, "embeddings", None)
            layer = getattr(embeddings, "word_embeddings", None) or getattr(embeddings, self._input_embed_layer, None)
        if layer is None:
            raise NotImplementedError(f"{type(self).__name__} has no input embeddings to return")
        return layer

    def set_input_embeddings(self, value):
        base = self.base_model
        if base is not self:
            return base.set_input_embeddings(value)
        embeddings = getattr(self, "embeddings", None)
        if embeddings is not None and hasattr(embeddings, "word_embeddings"):
            embeddings.word_embeddings = value
        else:
            setattr(self, self._input_embed_layer, value)

    def warn_if_padding_and_no_attention_mask(self, input_ids, attention_mask):
        """torch's logs a warning when padding tokens appear without a mask: nothing to compute."""

    @property
    def loss_function(self):
        raise NotImplementedError("the losses of transformers' heads (labels=...) are not translated")


class GradientCheckpointingLayer(nnx.Module):
    """transformers' GradientCheckpointingLayer: a plain module (gradient
    checkpointing is an nnx.remat decision of the training code)."""

    gradient_checkpointing = False

    def __init__(self, *args, rngs=None, **kwargs):
        pass


def hf_submodule(module, path):
    """The submodule at a torch dotted path ("model.layers.0.mlp")."""
    for part in filter(None, path.split(".")):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def hf_set_submodule(module, path, value):
    parent, _, name = path.rpartition(".")
    setattr(hf_submodule(module, parent), name, value)


class HFTiedLinear(nnx.Module):
    """A linear head whose weight is an embedding's table (tie_word_embeddings): one
    nnx.Param, held here under torch's name (``weight``, (out, in)), so the torch
    state_dict's two keys land on it and nnx.state holds it once."""

    def __init__(self, weight, bias=None):
        self.weight = weight
        self.bias = bias

    def __call__(self, x):
        y = x @ self.weight[...].T
        return y + self.bias[...] if self.bias is not None else y
