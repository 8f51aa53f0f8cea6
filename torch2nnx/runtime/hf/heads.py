"""transformers' generic task heads (modeling_layers: ``GenericForSequenceClassification``,
``GenericForQuestionAnswering``, ``GenericForTokenClassification``), the mixins
the Llama family's files build their heads from, as NNX: the base model
(torch's ``AutoModel.from_config``: the translated ``<Name>Model`` for a
``<Name>Config``, found among the head's bases' subclasses) under ``base_model_prefix`` and a linear head, with
torch's forward. Labels (the losses) are not translated. Copied into generated
files like helpers.py.
"""

import jax.numpy as jnp
from flax import nnx


def hf_auto_model(model, config, rngs):
    """AutoModel.from_config(config) for a translated head: the class named for the
    configuration's (LlamaConfig -> LlamaModel) deriving from the head's nearest base
    (LlamaPreTrainedModel: the translated file's own classes)."""
    name = type(config).__name__.removesuffix("Config") + "Model"
    for base in type(model).__mro__:
        for sub in base.__subclasses__():
            if sub.__name__ == name:
                return sub(config, rngs=rngs)
    raise NotImplementedError(f"AutoModel.from_config: no {name} next to {type(model).__name__}")


def hf_base_outputs(head, input_ids, attention_mask, position_ids, cache, inputs_embeds, **kwargs):
    """The head's base model (under base_model_prefix) on the inputs."""
    return getattr(head, head.base_model_prefix)(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                                 cache=cache, inputs_embeds=inputs_embeds, **kwargs)


def hf_no_labels(**labels):
    if any(v is not None for v in labels.values()):
        raise NotImplementedError("the losses of transformers' heads (labels=...) are not translated")


class GenericForSequenceClassification:
    """The logits of the last token that is not padding (config.pad_token_id), per sequence."""

    base_model_prefix = "model"

    def __init__(self, config, *, rngs=None, **kwargs):
        super().__init__(config, rngs=rngs)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, hf_auto_model(self, config, rngs))
        self.score = nnx.Linear(config.get_text_config().hidden_size, self.num_labels, use_bias=False, rngs=rngs)
        self.post_init()

    def __call__(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, inputs_embeds=None,
                 labels=None, use_cache=None, **kwargs):
        """SequenceClassifierOutputWithPast: (batch, num_labels) logits."""
        hf_no_labels(labels=labels)
        outputs = hf_base_outputs(self, input_ids, attention_mask, position_ids, cache, inputs_embeds,
                                  use_cache=use_cache, **kwargs)
        logits = self.score(outputs.last_hidden_state)
        batch_size = (input_ids if input_ids is not None else inputs_embeds).shape[0]
        pad = self.config.get_text_config().pad_token_id
        if pad is None and batch_size != 1:
            raise ValueError("Cannot handle batch sizes > 1 if no padding token is defined.")
        if pad is None or input_ids is None:
            last = jnp.full((batch_size,), -1)
        else:  # the rightmost token that is not padding (left or right padding)
            last = jnp.argmax(jnp.arange(input_ids.shape[-1]) * (input_ids != pad), axis=-1)
        pooled = logits[jnp.arange(batch_size), last]
        return SequenceClassifierOutputWithPast(loss=None, logits=pooled, cache=outputs.cache,
                                                hidden_states=outputs.hidden_states, attentions=outputs.attentions)


class GenericForQuestionAnswering:
    """Start and end logits of each token."""

    base_model_prefix = "model"

    def __init__(self, config, *, rngs=None, **kwargs):
        super().__init__(config, rngs=rngs)
        setattr(self, self.base_model_prefix, hf_auto_model(self, config, rngs))
        self.qa_outputs = nnx.Linear(config.hidden_size, 2, rngs=rngs)
        self.post_init()

    def get_input_embeddings(self):
        return getattr(self, self.base_model_prefix).embed_tokens

    def set_input_embeddings(self, value):
        getattr(self, self.base_model_prefix).embed_tokens = value

    def __call__(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, inputs_embeds=None,
                 start_positions=None, end_positions=None, **kwargs):
        hf_no_labels(start_positions=start_positions, end_positions=end_positions)
        outputs = hf_base_outputs(self, input_ids, attention_mask, position_ids, cache, inputs_embeds, **kwargs)
        logits = self.qa_outputs(outputs.last_hidden_state)
        return QuestionAnsweringModelOutput(loss=None, start_logits=logits[..., 0], end_logits=logits[..., 1],
                                            hidden_states=outputs.hidden_states, attentions=outputs.attentions)


class GenericForTokenClassification:
    """Logits of each token, after dropout."""

    base_model_prefix = "model"

    def __init__(self, config, *, rngs=None, **kwargs):
        rate = next((r for r in (getattr(config, "classifier_dropout", None), getattr(config, "hidden_dropout", None))
                     if r is not None), 0.1)
        super().__init__(config, rngs=rngs)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, hf_auto_model(self, config, rngs))
        self.dropout = nnx.Dropout(rate, rngs=rngs)
        self.score = nnx.Linear(config.get_text_config().hidden_size, config.num_labels,
                                use_bias=getattr(config, "token_classification_bias", True), rngs=rngs)
        self.post_init()

    def __call__(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, inputs_embeds=None,
                 labels=None, use_cache=None, **kwargs):
        """TokenClassifierOutput: (batch, seq, num_labels) logits."""
        hf_no_labels(labels=labels)
        outputs = hf_base_outputs(self, input_ids, attention_mask, position_ids, cache, inputs_embeds,
                                  use_cache=use_cache, **kwargs)
        logits = self.score(self.dropout(outputs.last_hidden_state))
        return TokenClassifierOutput(loss=None, logits=logits, hidden_states=outputs.hidden_states,
                                     attentions=outputs.attentions)
