"""transformers' backbone plumbing (backbone_utils: ``BackboneMixin``,
``filter_output_hidden_states``) for the ``*Backbone`` classes of translated
modeling files: the feature maps of the stages ``config.out_features`` names,
with torch's attributes and forward wrapper. A timm backbone
(``timm_backbone=...``) is not translated. Copied into generated files like
helpers.py.
"""

import functools


class BackboneMixin:
    """backbone_utils.BackboneMixin on an NNX model base: the stage names and the
    features to return are the config's (torch's transformers-backbone path)."""

    backbone_type = None
    has_attentions = True

    def __init__(self, *args, **kwargs):
        if kwargs.pop("timm_backbone", None) is not None:
            raise NotImplementedError("a timm backbone inside a transformers backbone is not translated")
        super().__init__(*args, **kwargs)
        self.backbone_type = "transformers"
        self.stage_names = self.config.stage_names
        self.config.verify_out_features_out_indices()
        self.num_features = None

    @property
    def out_features(self):
        return self.config._out_features

    @property
    def out_indices(self):
        return self.config._out_indices

    @property
    def out_feature_channels(self):
        return {stage: self.num_features[i] for i, stage in enumerate(self.stage_names)}

    @property
    def channels(self):
        return [self.out_feature_channels[name] for name in self.out_features]

    def forward_with_filtered_kwargs(self, *args, **kwargs):
        if not self.has_attentions:
            kwargs.pop("output_attentions", None)
        return self(*args, **kwargs)


def filter_output_hidden_states(forward):
    """backbone_utils.filter_output_hidden_states: the forward runs with
    ``output_hidden_states=True`` (the feature maps are hidden states) and the output
    keeps them only where the caller asked (all of them, or the indices given)."""

    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        wanted = kwargs.get("output_hidden_states", getattr(self.config, "output_hidden_states", False))
        kwargs["output_hidden_states"] = True
        output = forward(self, *args, **kwargs)
        if not wanted:
            return type(output)(**{k: v for k, v in output.items() if k != "hidden_states"})
        if not isinstance(wanted, bool):  # indices: the others are None, as torch's are
            n = len(output["hidden_states"])
            chosen = [wanted] if isinstance(wanted, int) else list(wanted)
            chosen = {i % n for i in chosen if -n <= i < n}
            output["hidden_states"] = [h if i in chosen else None for i, h in enumerate(output["hidden_states"])]
        return output

    return wrapper
